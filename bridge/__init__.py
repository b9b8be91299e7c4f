"""Soundalike's bridge: the composition root, config, command line and OSC server."""
