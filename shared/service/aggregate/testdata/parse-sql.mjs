// Parses SQL statements with the grammars of dt-sql-parser (DTStack; ANTLR grammars of Trino's
// and Hive's SQL, pinned in the root package.json, installed by npm ci) and reports their syntax
// errors. Reads a JSON array of {"name", "dialect": "trino"|"hive", "sql"} on stdin; writes a JSON
// array of {"name", "statements", "errors": [{"line", "column", "message"}]} on stdout, one entry
// an input, in order (line and column 1-based). Run by TestAthenaSQLParses.
import { register } from 'node:module';

// dt-sql-parser's dist is ES modules written for bundlers: relative imports name neither the
// file's extension nor a directory's index.js, which Node's resolver refuses. This hook adds them.
const hook = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (!specifier.startsWith('.') || !String(context.parentURL).includes('/node_modules/dt-sql-parser/')) throw err;
    for (const suffix of ['.js', '/index.js']) {
      try { return await next(specifier + suffix, context); } catch {}
    }
    throw err;
  }
}`;
register('data:text/javascript,' + encodeURIComponent(hook));
const { TrinoSQL, HiveSQL } = await import('dt-sql-parser');

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const grammars = { trino: TrinoSQL, hive: HiveSQL };
const parsers = {};
const out = input.map(({ name, dialect, sql }) => {
  if (!grammars[dialect]) throw new Error(`${name}: unknown dialect ${JSON.stringify(dialect)}`);
  const parser = (parsers[dialect] ??= new grammars[dialect]());
  return {
    name,
    statements: (parser.splitSQLByStatement(sql) ?? []).length,
    errors: parser.validate(sql).map((e) => ({ line: e.startLine, column: e.startColumn, message: e.message })),
  };
});
process.stdout.write(JSON.stringify(out) + '\n');
