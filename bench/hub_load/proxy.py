"""A real TLS proxy (HAProxy or nginx) in front of a hub listening plain on loopback.

Used by the benchmark (`--offload`) and by tests/hub/test_tls_offload.py; the configurations
are the ones docs/operations.md (TLS offload) recommends, with test paths and ports.
"""

from __future__ import annotations

from pathlib import Path


def proxy_command(
    proxy: str, folder: Path, port: int, hub_port: int, cert: Path, key: Path
) -> list[str]:
    """The proxy's command line, its configuration written into `folder`."""
    if proxy == "haproxy":
        bundle = folder / "bundle.pem"
        bundle.write_bytes(cert.read_bytes() + key.read_bytes())
        config = folder / "haproxy.cfg"
        config.write_text(
            "global\n  maxconn 8000\n"
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n"
            "  timeout server 1h\n"
            f"frontend homeroom\n  bind 127.0.0.1:{port} ssl crt {bundle}\n"
            "  default_backend hub\n"
            f"backend hub\n  server hub 127.0.0.1:{hub_port}\n"
        )
        return ["haproxy", "-db", "-f", str(config)]
    config = folder / "nginx.conf"
    config.write_text(
        "daemon off;\nmaster_process off;\nuser root;\npid nginx.pid;\n"
        "error_log stderr warn;\nevents { worker_connections 20000; }\n"
        "http {\n  access_log off;\n"
        f"  client_body_temp_path {folder}/tmp;\n  proxy_temp_path {folder}/tmp;\n"
        "  map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n"
        f"  server {{\n    listen 127.0.0.1:{port} ssl;\n"
        f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
        "    location / {\n"
        f"      proxy_pass http://127.0.0.1:{hub_port};\n"
        "      proxy_http_version 1.1;\n"
        "      proxy_set_header Upgrade $http_upgrade;\n"
        "      proxy_set_header Connection $connection_upgrade;\n"
        "      proxy_read_timeout 1h;\n    }\n  }\n}\n"
    )
    (folder / "tmp").mkdir()
    return ["nginx", "-p", str(folder), "-c", str(config)]
