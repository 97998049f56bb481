// Shared by the browser tests' scripts: launches Debian's Chromium through
// playwright-core (no browser download), headless, with a fresh profile and
// without the background networking a closed network would refuse.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

// artifact returns a path for a file the test keeps (screenshots).
function artifact(name) {
  const dir = process.env.ARTIFACTS || os.tmpdir();
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

// check fails the script with a message when cond is false.
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

module.exports = { launch, artifact, check };
