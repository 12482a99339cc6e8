// Validates an AsyncAPI document (a file path) with the reference parser; prints the
// diagnostics as JSON and exits 1 when any of them is an error.
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

async function main() {
  const document = fs.readFileSync(process.argv[2], "utf8");
  const { document: parsed, diagnostics } = await new Parser().parse(document);
  const found = diagnostics.map((d) => ({
    severity: d.severity,
    code: d.code,
    message: d.message,
    path: d.path.join("/"),
  }));
  console.log(JSON.stringify({ parsed: parsed !== undefined, diagnostics: found }));
  process.exit(parsed !== undefined && !found.some((d) => d.severity === 0) ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
