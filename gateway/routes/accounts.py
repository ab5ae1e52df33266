"""hummingbot-api /accounts/*, /connectors/ and /connectors/{c}/config-map, POST /portfolio/state and
/portfolio/history, plus hbmesh's GET /portfolio/status (stale connectors). Trailing slashes exactly as
hummingbot-api (`/accounts/`, `/connectors/`). `/connectors/{c}/trading-rules` is svc_marketdata's."""

from fastapi import APIRouter

from shared.schemas.accounts import Credentials, PortfolioHistoryReq, PortfolioStateReq

from ..relay import relay

router = APIRouter(tags=["accounts"])
A = "accounts"
ACCOUNT = {"account_name": (str, ...)}

relay(router, "GET", "/accounts/", A, "accounts/list")
relay(router, "GET", "/accounts/{account_name}/credentials", A, "credentials/list")
relay(router, "POST", "/accounts/add-account", A, "accounts/add", params=ACCOUNT)
relay(router, "POST", "/accounts/delete-account", A, "accounts/delete", params=ACCOUNT)
relay(router, "POST", "/accounts/delete-credential/{account_name}/{connector_name}", A, "credentials/delete")
relay(router, "POST", "/accounts/add-credential/{account_name}/{connector_name}", A, "credentials/add",
      body=Credentials, body_field="credentials", timeout=60)
relay(router, "GET", "/connectors/", A, "connectors/list")
relay(router, "GET", "/connectors/{connector_name}/config-map", A, "connectors/config-map")
relay(router, "POST", "/portfolio/state", A, "portfolio/state", body=PortfolioStateReq, timeout=180)
relay(router, "POST", "/portfolio/history", A, "portfolio/history", body=PortfolioHistoryReq, timeout=60)
relay(router, "GET", "/portfolio/status", A, "portfolio/status")
