"""One module per seed layer: a pure `spec -> [Desired]` builder plus the kinds it uses."""
