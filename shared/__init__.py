"""hbmesh shared runtime: the one package that knows MQTT (topics, envelope, request/reply, presence)."""

__version__ = "0.1.0"
