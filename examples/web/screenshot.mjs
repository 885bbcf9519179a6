// Takes the README's screenshot of the page after "Compare all three" and a prediction, in headless
// Chromium with WebGPU. Needs the page built (build.sh), served (build.sh --serve, in another shell)
// and puppeteer-core (npm install puppeteer-core):
//   node examples/web/screenshot.mjs [http://localhost:8000] [examples/web/screenshot.png]
import puppeteer from 'puppeteer-core';

const [url = 'http://localhost:8000', out = 'examples/web/screenshot.png'] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu'],
  defaultViewport: { width: 1020, height: 1180 },
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log('page:', m.text()));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('adapter').textContent.startsWith('WebGPU adapter'), { timeout: 60000 });
  const started = Date.now();
  await page.click('#compare');
  await page.waitForFunction(() => document.getElementById('results').rows.length === 4, { timeout: 900000 });
  console.log(`scratch, init and freeze trained and tested in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await page.click('#predict');
  await page.waitForFunction(() => document.getElementById('prediction').textContent !== '', { timeout: 60000 });
  console.log(await page.$eval('#log', (e) => e.innerText));
  console.log(await page.$eval('#results', (e) => e.innerText));
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
