"""Runs under .venv-commlib (commlib-py 0.11.5, paho 1.x: what bots and hbotrc use). Calls an hbmesh
command with commlib's own RPC client and prints the reply data as JSON. Usage: port topic json."""

import json
import sys

from commlib.msg import RPCMessage
from commlib.node import Node
from commlib.transports.mqtt import ConnectionParameters


class Call(RPCMessage):
    class Request(RPCMessage.Request):
        model_config = {"extra": "allow"}

    class Response(RPCMessage.Response):
        status: int = 0
        msg: str = ""
        result: object = None


def main() -> None:
    port, topic, data = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    node = Node(node_name="hbmesh-commlib-peer", connection_params=ConnectionParameters(host="127.0.0.1", port=port),
                heartbeats=False)
    client = node.create_rpc_client(msg_type=Call, rpc_name=topic)
    node.run()
    reply = client.call(Call.Request(**data), timeout=20)
    print("REPLY " + json.dumps(reply.model_dump()), flush=True)
    node.stop()


if __name__ == "__main__":
    main()
