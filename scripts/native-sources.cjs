// Lists the CPU addon's C++ sources for binding.gyp (gyp has no globs), by the same rule as
// CMakeLists.txt: src/native/**/*.cc. Run from the package root by node-gyp.
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.cc') ? [join(dir, e.name)] : [],
  );
}
const mode = process.argv[2];
if (mode === 'addon-api') {
  process.stdout.write(require('node-addon-api').include_dir);
} else {
  process.stdout.write(walk('src/native').sort().join('\n'));
}
