"""Docker engine operations through the docker SDK (blocking: call them through asyncio.to_thread).

Shapes follow hummingbot-api's /docker/* answers. Engine errors become hbmesh statuses: unreachable
engine 503, unknown container/image 404, name in use 409, other engine refusals 400/500.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from shared.errors import Conflict, HbError, NotFound, Unavailable

from .instances import InstancePlan

LABEL = "hbmesh.fleet"


def _errors():
    import docker.errors as de

    return de


class DockerOps:
    def __init__(self, base_url: str | None = None, timeout: int = 60):
        self.base_url = base_url
        self.timeout = timeout
        self._client = None
        self._lock = threading.Lock()
        self.pulls: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------ engine
    def client(self):
        with self._lock:
            if self._client is None:
                import docker

                de = _errors()
                try:
                    self._client = (docker.DockerClient(base_url=self.base_url, timeout=self.timeout)
                                    if self.base_url else docker.from_env(timeout=self.timeout))
                    self._client.ping()
                except (de.DockerException, OSError) as exc:
                    self._client = None
                    raise Unavailable(f"docker engine unreachable: {exc}") from None
            return self._client

    def _call(self, fn, *args, what: str = "", **kwargs):
        de = _errors()
        try:
            return fn(*args, **kwargs)
        except de.NotFound as exc:
            raise NotFound(f"{what or 'object'} not found: {exc.explanation or exc}") from None
        except de.APIError as exc:
            code = exc.status_code or 500
            text = exc.explanation or str(exc)
            if code == 409:
                raise Conflict(text) from None
            if code == 404:
                raise NotFound(text) from None
            raise HbError(f"docker engine: {text}", 400 if 400 <= code < 500 else 500) from None
        except de.DockerException as exc:
            with self._lock:
                self._client = None
            raise Unavailable(f"docker engine unreachable: {exc}") from None
        except (ConnectionError, OSError) as exc:
            with self._lock:
                self._client = None
            raise Unavailable(f"docker engine unreachable: {exc}") from None

    def running(self) -> bool:
        try:
            self._call(self.client().ping)
            return True
        except HbError:
            return False

    # ------------------------------------------------------------ images
    def images(self, name: str | None = None) -> list[dict]:
        images = self._call(self.client().images.list, what="image")
        out = []
        for img in images:
            tags = img.tags or []
            if name and not any(name in t for t in tags):
                continue
            out.append({"id": img.short_id, "tags": tags, "created": img.attrs.get("Created"),
                        "size": img.attrs.get("Size")})
        return out

    def image_exists(self, image: str) -> bool:
        de = _errors()
        try:
            self.client().images.get(image)
            return True
        except de.ImageNotFound:
            return False
        except de.DockerException as exc:
            raise Unavailable(f"docker engine unreachable: {exc}") from None

    def pull(self, image: str) -> dict:
        """Start pulling in a thread; progress in `pull_status()`. One pull per image at a time."""
        entry = self.pulls.get(image)
        if entry and entry["status"] == "pulling":
            return {"message": f"pull of {image} already in progress", "image_name": image, "status": "pulling"}
        self.client()
        self.pulls[image] = {"image_name": image, "status": "pulling", "started_at": time.time(),
                             "completed_at": None, "error": None}
        if len(self.pulls) > 100:
            for k in sorted(self.pulls, key=lambda k: self.pulls[k]["started_at"])[:len(self.pulls) - 100]:
                self.pulls.pop(k, None)
        threading.Thread(target=self._pull, args=(image,), daemon=True, name=f"pull-{image}").start()
        return {"message": f"pull of {image} started", "image_name": image, "status": "pulling"}

    def _pull(self, image: str) -> None:
        entry = self.pulls[image]
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        try:
            self._call(self.client().images.pull, repo, tag=tag or "latest", what="image")
            entry.update(status="completed")
        except HbError as exc:
            entry.update(status="failed", error=exc.msg)
        except Exception as exc:  # noqa: BLE001 - reported as the pull's failure
            entry.update(status="failed", error=str(exc))
        entry["completed_at"] = time.time()

    def pull_status(self) -> dict:
        return {"pulls": list(self.pulls.values())}

    # ------------------------------------------------------------ containers
    @staticmethod
    def _info(c) -> dict:
        image = (c.attrs.get("Config") or {}).get("Image") or (c.image.tags[0] if c.image and c.image.tags else "")
        return {"id": c.short_id, "name": c.name, "status": c.status, "image": image,
                "labels": c.labels, "created": c.attrs.get("Created")}

    def containers(self, status: str, name_filter: str | None = None) -> list[dict]:
        filters: dict[str, Any] = {"status": status}
        if name_filter:
            filters["name"] = name_filter
        found = self._call(self.client().containers.list, all=True, filters=filters, what="container")
        return [self._info(c) for c in found]

    def container(self, name: str) -> dict:
        return self._info(self._call(self.client().containers.get, name, what=f"container '{name}'"))

    def start(self, name: str) -> dict:
        c = self._call(self.client().containers.get, name, what=f"container '{name}'")
        self._call(c.start, what=f"container '{name}'")
        return {"success": True, "message": f"container {name} started"}

    def stop(self, name: str, timeout: int = 10) -> dict:
        c = self._call(self.client().containers.get, name, what=f"container '{name}'")
        self._call(c.stop, timeout=timeout, what=f"container '{name}'")
        c.reload()
        return {"success": True, "message": f"container {name} stopped", "status": c.status}

    def remove(self, name: str, force: bool = False) -> dict:
        c = self._call(self.client().containers.get, name, what=f"container '{name}'")
        self._call(c.remove, force=force, what=f"container '{name}'")
        return {"success": True, "message": f"container {name} removed"}

    def clean_exited(self) -> dict:
        removed = []
        for c in self._call(self.client().containers.list, all=True, filters={"status": "exited"}):
            try:
                self._call(c.remove, what=f"container '{c.name}'")
                removed.append(c.name)
            except NotFound:
                pass
        return {"success": True, "message": f"removed {len(removed)} exited containers", "removed": removed}

    def wait_status(self, name: str, statuses: tuple[str, ...], timeout: float) -> str:
        c = self._call(self.client().containers.get, name, what=f"container '{name}'")
        deadline = time.monotonic() + timeout
        while True:
            c.reload()
            if c.status in statuses or time.monotonic() > deadline:
                return c.status
            time.sleep(0.1)  # the engine has no status-change wait short of the events stream

    def run_bot(self, plan: InstancePlan, *, network_mode: str | None = "host", mem_limit: str | None = None,
                cpu_limit: float | None = None, user: str | None = None,
                command: list[str] | None = None) -> dict:
        if not self.image_exists(plan.image):
            raise NotFound(f"image '{plan.image}' is not on the engine; pull it first (POST /docker/pull-image/)")
        kwargs: dict[str, Any] = dict(
            image=plan.image, name=plan.name, detach=True, tty=True, stdin_open=True, volumes=plan.volumes,
            environment=plan.environment, labels={LABEL: "bot", "hbmesh.instance": plan.name},
            log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "5"}},
        )
        if network_mode:
            kwargs["network_mode"] = network_mode
        if mem_limit:
            kwargs["mem_limit"] = mem_limit
        if cpu_limit:
            kwargs["nano_cpus"] = int(cpu_limit * 1e9)
        if user:
            kwargs["user"] = user
        if command:
            kwargs["command"] = command
        c = self._call(self.client().containers.run, what=f"image '{plan.image}'", **kwargs)
        return self._info(c)

    def logs(self, name: str, tail: int = 100) -> str:
        c = self._call(self.client().containers.get, name, what=f"container '{name}'")
        return self._call(c.logs, tail=tail).decode(errors="replace")
