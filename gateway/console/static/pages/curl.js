// A ready-to-paste shell snippet that signs a body as the trigger's mode expects
// (the same schemes as `firehook sign`), computing the signature when it is run.

const q = (text) => `'${String(text).replace(/'/g, "'\\''")}'`;

export function signedCurl(mode, url, secret) {
  const lines = [
    `SECRET=${q(secret || "<the trigger's secret>")}`,
    `BODY='{"hello":"world"}'`,
    "TS=$(date +%s)",
  ];
  const hmac = (message) =>
    `SIG=$(printf '%s' "${message}" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)`;
  let headers = [];
  if (mode === "bearer") headers = [`-H "Authorization: Bearer $SECRET"`];
  else if (mode === "hmac_sha256") {
    lines.push(hmac("$TS.$BODY"));
    headers = [`-H "X-Firehook-Timestamp: $TS"`, `-H "X-Firehook-Signature: sha256=$SIG"`];
  } else if (mode === "github") {
    lines.push(hmac("$BODY"));
    headers = [`-H "X-Hub-Signature-256: sha256=$SIG"`, `-H "X-GitHub-Delivery: delivery-$TS"`];
  } else if (mode === "stripe") {
    lines.push(hmac("$TS.$BODY"));
    headers = [`-H "Stripe-Signature: t=$TS,v1=$SIG"`];
  } else if (mode === "slack") {
    lines.push(hmac("v0:$TS:$BODY"));
    headers = [`-H "X-Slack-Request-Timestamp: $TS"`, `-H "X-Slack-Signature: v0=$SIG"`];
  } else if (mode === "standard_webhooks") {
    lines.push(
      "ID=msg_$TS",
      `KEY=$(printf '%s' "\${SECRET#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \\n')`,
      `SIG=$(printf '%s' "$ID.$TS.$BODY" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" -binary | base64)`,
    );
    headers = [`-H "webhook-id: $ID"`, `-H "webhook-timestamp: $TS"`, `-H "webhook-signature: v1,$SIG"`];
  }
  const curl = [`curl -sS -X POST ${q(url)}`, `-H 'Content-Type: application/json'`, ...headers,
    `--data-binary "$BODY"`].join(" \\\n  ");
  if (mode === "none") lines.splice(0, 1);
  return [...lines, curl].join("\n");
}
