// Parses DescribeReplicationGroups with the AWS SDK for JavaScript v3 and checks every list.
// JS v3 silently drops list items whose XML element name is wrong (boto3 and the CLI forgive
// them), so item counts are the point of this test. Run by tests/e2e/test_js_sdk.py, which
// creates the groups; it passes:
//   CF_ENDPOINT, CF_REGION, CF_ACCESS_KEY_ID, CF_SECRET_ACCESS_KEY
//   CF_GROUPS = JSON [{"id": "...", "mode": "cme", "shards": 3, "replicas": 1},
//                     {"id": "...", "mode": "cmd", "clusters": 3}]
//   CF_TOTAL_GROUPS = number of groups that exist in total
// Prints one JSON line {"groups": {...parsed...}} on success for the Python side to compare
// with boto3's parse; exits 1 with the failed assertion otherwise.
import assert from "node:assert/strict";
import {
  DescribeReplicationGroupsCommand,
  ElastiCacheClient,
  ReplicationGroupNotFoundFault,
} from "@aws-sdk/client-elasticache";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};

const client = new ElastiCacheClient({
  endpoint: env("CF_ENDPOINT"),
  region: env("CF_REGION"),
  credentials: { accessKeyId: env("CF_ACCESS_KEY_ID"), secretAccessKey: env("CF_SECRET_ACCESS_KEY") },
  maxAttempts: 1,
});

const specs = JSON.parse(env("CF_GROUPS"));
const totalGroups = Number(env("CF_TOTAL_GROUPS"));
let checks = 0;
const ok = (cond, msg) => {
  assert.ok(cond, msg);
  checks++;
};
const isStr = (v) => typeof v === "string" && v.length > 0;
const pad = (n, w) => String(n).padStart(w, "0");

function checkEndpoint(ep, what) {
  ok(ep && isStr(ep.Address), `${what}.Address missing`);
  ok(Number.isInteger(ep.Port) && ep.Port > 0, `${what}.Port missing or not a number`);
}

function checkCommon(rg, spec) {
  ok(rg.ReplicationGroupId === spec.id, `ReplicationGroupId ${rg.ReplicationGroupId} != ${spec.id}`);
  ok(rg.Status === "available", `${spec.id}: Status ${rg.Status}`);
  ok(isStr(rg.Description), `${spec.id}: Description missing`);
  ok(isStr(rg.CacheNodeType), `${spec.id}: CacheNodeType missing`);
  ok(isStr(rg.AutomaticFailover), `${spec.id}: AutomaticFailover missing`);
  ok(typeof rg.ClusterEnabled === "boolean", `${spec.id}: ClusterEnabled not parsed as boolean`);
  ok(Array.isArray(rg.MemberClusters), `${spec.id}: MemberClusters not a list`);
  ok(Array.isArray(rg.NodeGroups), `${spec.id}: NodeGroups not a list`);
  if (rg.ReplicationGroupCreateTime !== undefined) {
    ok(rg.ReplicationGroupCreateTime instanceof Date && !isNaN(rg.ReplicationGroupCreateTime),
      `${spec.id}: ReplicationGroupCreateTime not a valid timestamp`);
  }
}

function checkCme(rg, spec) {
  const per = spec.replicas + 1;
  ok(rg.ClusterEnabled === true, `${spec.id}: ClusterEnabled ${rg.ClusterEnabled}`);
  checkEndpoint(rg.ConfigurationEndpoint, `${spec.id}.ConfigurationEndpoint`);
  ok(rg.MemberClusters.length === spec.shards * per,
    `${spec.id}: MemberClusters has ${rg.MemberClusters.length} items, want ${spec.shards * per} ` +
    `(wrong item element name? must be <ClusterId>)`);
  const want = [];
  for (let s = 1; s <= spec.shards; s++)
    for (let n = 1; n <= per; n++) want.push(`${spec.id}-${pad(s, 4)}-${pad(n, 3)}`);
  ok(JSON.stringify([...rg.MemberClusters].sort()) === JSON.stringify(want),
    `${spec.id}: MemberClusters ${JSON.stringify(rg.MemberClusters)} != ${JSON.stringify(want)}`);
  ok(rg.NodeGroups.length === spec.shards,
    `${spec.id}: NodeGroups has ${rg.NodeGroups.length} items, want ${spec.shards} (must be <NodeGroup>)`);
  for (const ng of rg.NodeGroups) {
    ok(/^\d{4}$/.test(ng.NodeGroupId ?? ""), `${spec.id}: NodeGroupId ${ng.NodeGroupId}`);
    ok(isStr(ng.Slots), `${spec.id}/${ng.NodeGroupId}: Slots missing`);
    ok(isStr(ng.Status), `${spec.id}/${ng.NodeGroupId}: Status missing`);
    ok(Array.isArray(ng.NodeGroupMembers) && ng.NodeGroupMembers.length === per,
      `${spec.id}/${ng.NodeGroupId}: NodeGroupMembers has ${ng.NodeGroupMembers?.length} items, ` +
      `want ${per} (must be <NodeGroupMember>)`);
    for (const m of ng.NodeGroupMembers) {
      ok(isStr(m.CacheClusterId) && m.CacheClusterId.startsWith(`${spec.id}-${ng.NodeGroupId}-`),
        `${spec.id}/${ng.NodeGroupId}: member CacheClusterId ${m.CacheClusterId}`);
      ok(isStr(m.CacheNodeId), `${m.CacheClusterId}: CacheNodeId missing`);
      ok(isStr(m.PreferredAvailabilityZone), `${m.CacheClusterId}: PreferredAvailabilityZone missing`);
    }
  }
}

function checkCmd(rg, spec) {
  ok(rg.ClusterEnabled === false, `${spec.id}: ClusterEnabled ${rg.ClusterEnabled}`);
  ok(rg.MemberClusters.length === spec.clusters,
    `${spec.id}: MemberClusters has ${rg.MemberClusters.length} items, want ${spec.clusters} ` +
    `(wrong item element name? must be <ClusterId>)`);
  const want = Array.from({ length: spec.clusters }, (_, i) => `${spec.id}-${pad(i + 1, 3)}`);
  ok(JSON.stringify([...rg.MemberClusters].sort()) === JSON.stringify(want),
    `${spec.id}: MemberClusters ${JSON.stringify(rg.MemberClusters)} != ${JSON.stringify(want)}`);
  ok(rg.NodeGroups.length === 1, `${spec.id}: NodeGroups has ${rg.NodeGroups.length} items, want 1`);
  const ng = rg.NodeGroups[0];
  ok(ng.NodeGroupId === "0001", `${spec.id}: NodeGroupId ${ng.NodeGroupId}`);
  checkEndpoint(ng.PrimaryEndpoint, `${spec.id}.PrimaryEndpoint`);
  checkEndpoint(ng.ReaderEndpoint, `${spec.id}.ReaderEndpoint`);
  ok(Array.isArray(ng.NodeGroupMembers) && ng.NodeGroupMembers.length === spec.clusters,
    `${spec.id}: NodeGroupMembers has ${ng.NodeGroupMembers?.length} items, want ${spec.clusters} ` +
    `(must be <NodeGroupMember>)`);
  let primaries = 0;
  for (const m of ng.NodeGroupMembers) {
    ok(isStr(m.CacheClusterId), `${spec.id}: member without CacheClusterId`);
    ok(isStr(m.CacheNodeId), `${m.CacheClusterId}: CacheNodeId missing`);
    ok(isStr(m.PreferredAvailabilityZone), `${m.CacheClusterId}: PreferredAvailabilityZone missing`);
    checkEndpoint(m.ReadEndpoint, `${m.CacheClusterId}.ReadEndpoint`);
    ok(m.CurrentRole === "primary" || m.CurrentRole === "replica",
      `${m.CacheClusterId}: CurrentRole ${m.CurrentRole}`);
    if (m.CurrentRole === "primary") primaries++;
  }
  ok(primaries === 1, `${spec.id}: ${primaries} primaries`);
}

const parsed = {};
for (const spec of specs) {
  const out = await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: spec.id }));
  ok(out.ReplicationGroups?.length === 1, `${spec.id}: ReplicationGroups has ${out.ReplicationGroups?.length} items`);
  ok(isStr(out.$metadata.requestId), `${spec.id}: no request id (x-amzn-RequestId header)`);
  ok(out.Marker === undefined || out.Marker === "", `${spec.id}: Marker on a single-group describe`);
  const rg = out.ReplicationGroups[0];
  checkCommon(rg, spec);
  if (spec.mode === "cme") checkCme(rg, spec);
  else checkCmd(rg, spec);
  parsed[spec.id] = rg;
}

// Describe all: the list of groups itself must parse (<ReplicationGroup> items).
const all = await client.send(new DescribeReplicationGroupsCommand({}));
ok(all.ReplicationGroups.length === totalGroups,
  `describe-all: ${all.ReplicationGroups.length} groups parsed, want ${totalGroups} (must be <ReplicationGroup>)`);
const page = await client.send(new DescribeReplicationGroupsCommand({ MaxRecords: 20 }));
ok(page.ReplicationGroups.length === Math.min(20, totalGroups), `MaxRecords=20 page size ${page.ReplicationGroups.length}`);

// Errors: picked by Code, status 404, request id from the header.
try {
  await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: "js-no-such-group" }));
  ok(false, "describe of a missing group succeeded");
} catch (e) {
  ok(e instanceof ReplicationGroupNotFoundFault, `error is ${e?.name}, not ReplicationGroupNotFoundFault`);
  ok(e.$metadata?.httpStatusCode === 404, `NotFound HTTP status ${e.$metadata?.httpStatusCode}`);
  ok(isStr(e.$metadata?.requestId), "NotFound without x-amzn-RequestId");
  ok(e.$fault === "client", `NotFound $fault ${e.$fault}`);
}
try {
  await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: "Bad_ID" }));
  ok(false, "describe of a malformed id succeeded");
} catch (e) {
  ok(e.name === "InvalidParameterValueException" || e.Code === "InvalidParameterValue",
    `malformed id: ${e.name}/${e.Code}, want InvalidParameterValue`);
  ok(e.$metadata?.httpStatusCode === 400, `malformed id HTTP status ${e.$metadata?.httpStatusCode}`);
}

console.log(JSON.stringify({ checks, groups: parsed }));
