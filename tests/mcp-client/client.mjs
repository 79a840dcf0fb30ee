// The official MCP TypeScript SDK as a client of Switchyard's MCP endpoint (end-to-end tests).
//
// Environment:
//   MCP_URL            the endpoint (http://127.0.0.1:<port>/mcp)
//   MCP_CLIENT_ID      with MCP_CLIENT_SECRET: authorize through OAuth. The SDK gets the 401,
//                      reads the protected resource metadata it names, discovers the
//                      authorization server and gets a client_credentials token for the
//                      resource (RFC 8707) before retrying.
//   MCP_BEARER         otherwise: a token to send as is (an agent token).
//   TOOL_NAME, TOOL_ARGS (JSON)   the tool to call after listing.
//
// stdout: one JSON line {protocolVersion, tools, result}; nothing else, and never a token.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const url = new URL(process.env.MCP_URL);
const options = {};
if (process.env.MCP_CLIENT_ID) {
  options.authProvider = new ClientCredentialsProvider({
    clientId: process.env.MCP_CLIENT_ID,
    clientSecret: process.env.MCP_CLIENT_SECRET,
  });
} else if (process.env.MCP_BEARER) {
  options.requestInit = { headers: { Authorization: `Bearer ${process.env.MCP_BEARER}` } };
}

const client = new Client({ name: 'switchyard-e2e-ts', version: '0.0.0' });
const transport = new StreamableHTTPClientTransport(url, options);
try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const result = await client.callTool({
    name: process.env.TOOL_NAME,
    arguments: JSON.parse(process.env.TOOL_ARGS || '{}'),
  });
  process.stdout.write(`${JSON.stringify({
    protocolVersion: transport.protocolVersion,
    tools,
    result,
  })}\n`);
  await client.close();
} catch (err) {
  process.stderr.write(`mcp-client: ${err?.stack ?? err}\n`);
  process.exit(1);
}
