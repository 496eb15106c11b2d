// Run by bun_test.ts under Bun: prints the seam checks' results as JSON.
import { runtime } from "../../lib/runtime/bun.ts";
import { runSeamChecks } from "./_seam_checks.ts";

const results = await runSeamChecks(runtime, process.argv[2]!);
console.log(JSON.stringify(results));
process.exit(0);
