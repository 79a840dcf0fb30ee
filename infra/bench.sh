#!/usr/bin/env bash
# make bench: every figure beside a baseline measured in the same run, then one table.
#   1. criterion: in-process ingest path (verify + key + WorkItem) vs a JSON parse of the body
#   2. cold start: release webhook binary vs a minimal C runtime, to the first /next poll; and
#      beside the bench-echo floor with an emulator endpoint (issue 13's init target)
#   3. release binary sizes (stripped by the release profile)
#   4. DynamoDB and SQS calls per accepted webhook (counted by the SDK interceptor, on moto)
#   6. steady state: the release webhook (Slack, Discord) and consumer under a stub Runtime API
#      against the emulator, 1,000 signed events with 10 % duplicates, beside a lambda_runtime
#      echo function as the floor: CPU per event, p50/p99, peak RSS, init, AWS calls per event
#   8. KB search: kb.search (tool side, less the embedding call) against the Pinecone and LLM
#      fakes, beside a direct query to the Pinecone fake in the same run (the ignored e2e test
#      bench_kb_search_latency), p50/p95 and their ratio
#   9. sessions and templates: session initialization (POST /sessions) and template renders
#      (uncached and cached) on the local host, beside GET /healthz in the same run (the ignored
#      e2e tests bench_session_init and bench_template_render), p50/p95 and their ratio
#   9. live events: publish to the agent bus until the WebSocket client receives it on the local
#      stack, beside a WebSocket echo round trip in the same run (the ignored e2e test
#      bench_live_event_latency), p50/p95 and their ratio
#  10. shopify: 4 callers x 10 product updates against the Shopify fake's 100-point bucket, the
#      gateway's budget-waiting client beside naive retry-on-THROTTLED clients (immediate, fixed
#      250 ms) in the same run (the ignored e2e test bench_shopify_budget_vs_naive_retry): total
#      time, THROTTLED answers, provider calls, and their ratios
#   7. notification to bus: a Google Calendar push notification through the local host's route,
#      the sync worker and the consumer to the agent bus, beside a signed Slack webhook to the bus
#      in the same run (the ignored e2e test bench_notification, against the Google fake)
#   5. every Lambda's arm64 zip (cargo lambda build --release --arm64), and with
#      BENCH_BASELINE_REF=<commit> the same zips, the webhook's init and the steady-state rows
#      (webhook and consumer) for that commit, built in its own worktree and run in the same
#      command beside the same floor (before/after figures)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${VENV:-$root/.venv}"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$root/.local/bench"
mkdir -p "$out"

echo "== release build (webhook, consumer, the echo floor; the local host for provisioning)"
cargo build --release --bin webhook --bin consumer
cargo build --release -p switchyard-bench-echo
cargo build --bin switchyard --bin switchyard-local

echo "== criterion: ingest path"
cargo bench -p switchyard --bench ingest -- --noplot --warm-up-time 1 --measurement-time 3

# The webhook's environment for the cold-start runs (its own needs plus the rest, so older
# builds that read every resource variable start too).
webhook_env=()
for pair in \
  SWITCHYARD_PROVIDER=slack \
  SWITCHYARD_INSTANCES_TABLE=bench-InstancesTable \
  SWITCHYARD_DELIVERIES_TABLE=bench-DeliveriesTable \
  SWITCHYARD_INGRESS_QUEUE_URL=http://127.0.0.1:9/123456789012/bench-IngressQueue \
  SWITCHYARD_INGRESS_DLQ_URL=http://127.0.0.1:9/123456789012/bench-IngressDLQ \
  SWITCHYARD_PAYLOAD_BUCKET=bench-payloadbucket \
  SWITCHYARD_KMS_KEY_ID=alias/bench \
  SWITCHYARD_EVENT_BUS=bench-AgentEventBus \
  SWITCHYARD_OAUTH_STATES_TABLE=bench-OAuthStatesTable \
  SWITCHYARD_CONNECTIONS_TABLE=bench-ConnectionsTable \
  SWITCHYARD_AUDIT_TABLE=bench-AuditTable \
  SWITCHYARD_PLATFORM_KEYS_SECRET=bench-PlatformKeysSecret \
  SWITCHYARD_TOOL_STATE_TABLE=bench-ToolStateTable \
  SWITCHYARD_RECEIPTS_TABLE=bench-ReceiptsTable \
  SWITCHYARD_CURSORS_TABLE=bench-CursorsTable \
  SWITCHYARD_PUBLIC_URL=https://bench.example; do
  webhook_env+=(--env "$pair")
done

echo "== cold start (30 runs each, alternating): AWS's https endpoints (the webhook builds no TLS configuration before its first call)"
python3 infra/bench/coldstart.py --runs 30 --json "$out/coldstart.json" \
  "${webhook_env[@]}" \
  "$target/release/webhook"
# Issue 13's init target: the webhook beside the echo floor, pointed at an emulator (http://, so
# neither the SDK nor the wire client sets up TLS or reads the certificate store).
echo "== cold start beside the bench-echo floor (30 runs each, alternating): emulator endpoint"
python3 infra/bench/coldstart.py --runs 30 -q --json "$out/coldstart-floor.json" \
  "${webhook_env[@]}" --env AWS_ENDPOINT_URL=http://127.0.0.1:9 \
  "$target/release/webhook" "$target/release/bench-echo" | tail -3

base_args=()
steady_base_args=()
if [ -n "${BENCH_BASELINE_REF:-}" ]; then
  ref="$BENCH_BASELINE_REF"
  python3 infra/bench/sizes.py --ref "$ref" --json "$out/sizes-base.json"
  tree="$out/tree-$ref"
  (cd "$tree" && CARGO_TARGET_DIR="$out/target-$ref" cargo build --release --bin webhook --bin consumer)
  echo "== cold start of $ref's webhook (30 runs each, alternating)"
  python3 infra/bench/coldstart.py --runs 30 --json "$out/coldstart-base.json" \
    "${webhook_env[@]}" \
    "$out/target-$ref/release/webhook"
  base_args=(--sizes-base "$out/sizes-base.json" --coldstart-base "$out/coldstart-base.json")
  steady_base_args=(--base-webhook "$out/target-$ref/release/webhook"
    --base-consumer "$out/target-$ref/release/consumer" --base-label "$ref")
fi
python3 infra/bench/sizes.py --ref HEAD --json "$out/sizes.json"

echo "== AWS calls per accepted webhook (moto)"
VENV="$venv" infra/with-emulator.sh cargo nextest run -p switchyard-tests --no-capture \
  -E 'test(an_accepted_webhook_costs_one_dynamodb_write_and_one_sqs_send)' 2>&1 \
  | tee "$out/calls.log" | grep -E 'calls per accepted webhook|PASS|FAIL' || true

echo "== media: time to first byte of synchronous TTS (media fake) beside a plain POST to the fake"
VENV="$venv" infra/with-emulator.sh cargo nextest run -p switchyard-tests --no-capture \
  --run-ignored only -E 'test(bench_tts_time_to_first_byte)' 2>&1 \
  | tee "$out/media.log" | grep -E 'tts ttfb|PASS|FAIL' || true

echo "== knowledge base: kb.search from the tool's side less the embedding call, beside a direct Pinecone fake query"
VENV="$venv" infra/with-emulator.sh cargo nextest run -p switchyard-tests --no-capture \
  --run-ignored only -E 'test(bench_kb_search_latency)' 2>&1 \
  | tee "$out/kb.log" | grep -E 'kb search|PASS|FAIL' || true

echo "== sessions and templates: POST /sessions and renders (uncached, cached) beside GET /healthz"
VENV="$venv" infra/with-emulator.sh cargo nextest run -p switchyard-tests --no-capture \
  --run-ignored only -E 'test(bench_session_init) | test(bench_template_render)' 2>&1 \
  | tee "$out/sessions.log" | grep -E 'session init|template render|PASS|FAIL' || true
echo "== live events: publish to WebSocket client receipt on the local stack, beside a WebSocket echo round trip"
VENV="$venv" infra/with-emulator.sh cargo nextest run -p switchyard-tests --no-capture \
  --run-ignored only -E 'test(bench_live_event_latency)' 2>&1 \
  | tee "$out/live.log" | grep -E 'live events|PASS|FAIL' || true

echo "== shopify: the per-shop cost budget (wait before calling) beside naive retry-on-THROTTLED clients"
VENV="$venv" infra/with-emulator.sh cargo nextest run -p switchyard-tests --no-capture \
  --run-ignored only -E 'test(bench_shopify_budget_vs_naive_retry)' 2>&1 \
  | tee "$out/shopify.log" | grep -E 'shopify budget|PASS|FAIL' || true

echo "== steady state (${BENCH_EVENTS:-1000} events per webhook, 10 % duplicates)"
VENV="$venv" infra/with-emulator.sh "$venv/bin/python" infra/bench/steady.py \
  --webhook "$target/release/webhook" --consumer "$target/release/consumer" \
  --floor "$target/release/bench-echo" --events "${BENCH_EVENTS:-1000}" --json "$out/steady.json" \
  ${steady_base_args[@]+"${steady_base_args[@]}"}

echo "== notification to bus on the local stack (Google channel vs Slack webhook baseline)"
VENV="$venv" infra/with-emulator.sh cargo nextest run -p switchyard-tests --no-capture \
  --run-ignored only -E 'test(notification_to_event_on_the_bus)' 2>&1 \
  | tee "$out/notification.log" | grep -E 'notification to bus|PASS|FAIL' || true

python3 infra/bench/report.py --criterion "$target/criterion" --coldstart "$out/coldstart.json" \
  --calls "$out/calls.log" --binary "$target/release/webhook" --binary "$target/release/consumer" \
  --sizes "$out/sizes.json" "${base_args[@]}"
