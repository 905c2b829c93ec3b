// The seed's Node dashboard's token route, alone: POST /api/tokens mints with
// livekit-server-sdk's AccessToken as the seed did (no SvelteKit around it), for
// BenchmarkCreateToken's baseline. testenv.NodeDashboard starts it with the SDK's
// directory (scripts/stack install node-dashboard) and prints nothing but its port.
import http from "node:http";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(k + " is required");
  return v;
};
const sdk = createRequire(env("NODE_DASHBOARD_DIR") + "/").resolve("livekit-server-sdk");
const { AccessToken } = await import(pathToFileURL(sdk).href);
const apiKey = env("LIVEKIT_API_KEY"), apiSecret = env("LIVEKIT_API_SECRET");
const dashKey = env("DASHBOARD_API_KEY"), wsUrl = env("LIVEKIT_WS_URL");

const answer = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const server = http.createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/api/tokens") return answer(res, 404, { error: "not found" });
  if (req.headers["x-api-key"] !== dashKey) return answer(res, 401, { error: "unauthenticated" });
  let raw = "";
  for await (const chunk of req) raw += chunk;
  let t;
  try {
    t = JSON.parse(raw);
  } catch {
    return answer(res, 400, { error: "malformed json" });
  }
  const ttl = t.ttl || "6h";
  const at = new AccessToken(apiKey, apiSecret, { identity: t.identity, name: t.name, metadata: t.metadata, ttl });
  const publish = t.role !== "listener";
  at.addGrant({ roomJoin: true, room: t.room, canPublish: publish, canSubscribe: true, canPublishData: publish });
  const token = await at.toJwt();
  const expiresAt = new Date(Date.now() + (typeof ttl === "number" ? ttl * 1000 : 6 * 3600 * 1000)).toISOString();
  answer(res, 201, { token, wsUrl, role: t.role, room: t.room, identity: t.identity, expiresAt });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
