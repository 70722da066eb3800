"""One chat message -> `NeedsUpdate`: phrase tables (`lexicon`), deterministic rules (`rules`), and the
model's reading, checked against the message and merged with the rules' (`model`)."""
