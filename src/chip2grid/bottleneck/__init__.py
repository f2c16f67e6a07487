"""Which layer of one deployment binds, the headroom of every other, the cascade, sensitivities."""
