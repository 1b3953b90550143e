#!/usr/bin/env node
// Lists functions longer than N lines (default 80), longest first: TypeScript and JavaScript through
// the TypeScript parser, Rust by matching the braces of each `fn` (string and comment aware enough for
// our code). For finding what to cut into smaller steps, not a lint gate.
//   node scripts/long-functions.mjs [--min N] [dirs...]   (default dirs: ts crates bench)
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'

const args = process.argv.slice(2)
let min = 80
const dirs = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--min') {
    min = Number(args[++i])
    if (!Number.isInteger(min) || min < 1) {
      console.error('long-functions: --min needs a positive integer')
      process.exit(2)
    }
  } else dirs.push(args[i])
}
if (dirs.length === 0) dirs.push('ts', 'crates', 'bench')

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'target' || name === 'dist' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) yield* walk(p)
    else yield p
  }
}

/** The name a function is known by: its own, or the variable, property or class member it is assigned to. */
function nameOf(node, sf) {
  if (node.name) return node.name.getText(sf)
  const parent = node.parent
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)))
    return parent.name.getText(sf)
  return '(anonymous)'
}

function tsFunctions(file) {
  const text = readFileSync(file, 'utf8')
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const out = []
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1
      out.push({ name: nameOf(node, sf), start, lines: end - start + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

function rustFunctions(file) {
  const lines = readFileSync(file, 'utf8').split('\n')
  const out = []
  const fnRe = /^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+(\w+)/
  for (let i = 0; i < lines.length; i++) {
    const m = fnRe.exec(lines[i])
    if (!m) continue
    // From the signature to the brace that closes the body; a `;` first means no body (trait item).
    let depth = 0
    let opened = false
    let j = i
    scan: for (; j < lines.length; j++) {
      const code = lines[j]
        .replace(/\/\/.*$/, '')
        .replace(/"(?:[^"\\]|\\.)*"/g, '""')
        .replace(/'(?:[^'\\]|\\.)'/g, "''")
      for (const ch of code) {
        if (ch === '{') {
          depth++
          opened = true
        } else if (ch === '}') {
          depth--
          if (opened && depth === 0) break scan
        } else if (ch === ';' && !opened) break scan
      }
    }
    if (opened) out.push({ name: m[1], start: i + 1, lines: j - i + 1 })
  }
  return out
}

const found = []
for (const dir of dirs) {
  for (const file of walk(dir)) {
    let fns
    if (/\.(ts|tsx|mts|mjs|js)$/.test(file) && !file.endsWith('.d.ts') && !file.endsWith('.d.mts')) fns = tsFunctions(file)
    else if (file.endsWith('.rs')) fns = rustFunctions(file)
    else continue
    for (const f of fns) if (f.lines > min) found.push({ ...f, file: relative(process.cwd(), file) })
  }
}
found.sort((a, b) => b.lines - a.lines)
for (const f of found) console.log(`${String(f.lines).padStart(5)}  ${f.file}:${f.start}  ${f.name}`)
console.log(`${found.length} function(s) longer than ${min} lines`)
