"""What a command or a page runs end to end: train a bundle, audit it, evaluate on the hold-out,
check gates. Each module composes the data, model, scoring and metric layers; none holds a metric
or a model of its own."""
