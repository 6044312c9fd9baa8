using System.Runtime.CompilerServices;

// The tokenizer tests check internal pieces (the NFC normalizer, the pre-tokenizer matchers) directly.
[assembly: InternalsVisibleTo("SpecCore.Tests")]
