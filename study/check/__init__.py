"""The validation home: everything about a study that can be known before training, checked in one call."""
