using SpecCore.Cli;

return CommandRunner.Run(CliApp.CreateRoot(), args);
