#!/bin/bash
# Builds .device/ (ignored by git) for a lent GPU machine that has no .NET: the runtime packed with xz (~26 MB),
# DeviceCheck with the test and CLI assemblies, the shared models the tests read, and check.sh.
# Then, through the device tool: run command "bash .device/check.sh", carry [".device"]. About 48 MB travels.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
grep -qx "/.device/" .git/info/exclude 2>/dev/null || echo "/.device/" >> .git/info/exclude
rm -rf .device && mkdir -p .device/models
dotnet build tools/DeviceCheck -c Release -v q -nologo
cp -r tools/DeviceCheck/bin/Release/net10.0 .device/bin
find .device/bin -mindepth 1 -maxdepth 1 -type d ! -name profiles -exec rm -rf {} +
rm -f .device/bin/*.pdb .device/bin/*.xml
models=${SPECCORE_MODELS:-../shared/models}
cp -r "$models"/{stories2M,stories260K,tinystories-draft,reference,README.md} .device/models/
tar -C "$root" -cJf .device/dotnet-rt.tar.xz dotnet host shared/Microsoft.NETCore.App
cp tools/DeviceCheck/check.sh .device/check.sh
du -sh .device
