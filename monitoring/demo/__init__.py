"""The demo wave `make run` replays: written for this project (not taken from any dataset)."""
