"""Stage 3, models: the registry of ECGCNN variants, its layers and torch front end, and the weights-file format."""
