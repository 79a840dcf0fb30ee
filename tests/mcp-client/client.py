"""The official MCP Python SDK as a client of Switchyard's MCP endpoint (end-to-end tests).

Environment: MCP_URL (the endpoint), MCP_BEARER (the access token to send: the test gets it
from the authorization server with resource=<MCP_URL>), TOOL_NAME and TOOL_ARGS (JSON); with
PROMPT_NAME (and PROMPT_ARGS, JSON) also prompts/list and that prompt from prompts/get.

stdout: one JSON line {protocolVersion, tools, result[, prompts, prompt]}; never the token.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['MCP_BEARER']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(os.environ["MCP_URL"], http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                listed = await session.list_tools()
                result = await session.call_tool(
                    os.environ["TOOL_NAME"], json.loads(os.environ.get("TOOL_ARGS") or "{}")
                )
                out = {
                    "protocolVersion": init.protocol_version,
                    "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools],
                    "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
                }
                if os.environ.get("PROMPT_NAME"):
                    prompts = await session.list_prompts()
                    prompt = await session.get_prompt(
                        os.environ["PROMPT_NAME"], json.loads(os.environ.get("PROMPT_ARGS") or "{}")
                    )
                    out["prompts"] = [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in prompts.prompts]
                    out["prompt"] = prompt.model_dump(mode="json", by_alias=True, exclude_none=True)
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails
        print(f"mcp-client.py: {exc!r}", file=sys.stderr)
        sys.exit(1)
