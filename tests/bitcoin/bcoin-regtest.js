// A bcoin 1.0.2 full node on regtest for the Bitcoin tests (tests/bitcoin_support/mod.rs starts
// it). bcoin is installed by scripts/install-test-deps; this file lives in the repository and
// loads it from there, so the few changes bcoin needs to run on Node 20 and to answer like
// Bitcoin Core are made here, at start, and nothing under node_modules is edited.
//
// Usage: node bcoin-regtest.js NODE_MODULES_DIR DATA_DIR RPC_PORT API_KEY
// RPC: JSON-RPC over HTTP on 127.0.0.1:RPC_PORT, basic auth with API_KEY as the password.
// No peer-to-peer traffic: it neither listens nor connects.

'use strict';

// bcrypto's native bindings are not built (the install runs with --ignore-scripts): its
// JavaScript backend is chosen when this is set before it is first loaded.
process.env.NODE_BACKEND = 'js';

const path = require('path');
const { createRequire } = require('module');

const [modules, prefix, rpcPort, apiKey] = process.argv.slice(2);
if (!modules || !prefix || !rpcPort || !apiKey) {
  console.error('usage: bcoin-regtest.js NODE_MODULES_DIR DATA_DIR RPC_PORT API_KEY');
  process.exit(2);
}
const load = createRequire(path.join(path.resolve(modules), 'bcoin-regtest.js'));

// Regtest addresses and keys as Bitcoin Core encodes them (bcoin has its own regtest prefixes:
// `rb1...` instead of `bcrt1...`), so addresses made by other tools mean the same here.
const networks = load('bcoin/lib/protocol/networks');
Object.assign(networks.regtest.addressPrefix, {
  pubkeyhash: 0x6f,
  scripthash: 0xc4,
  witnesspubkeyhash: 0x03,
  witnessscripthash: 0x28,
  bech32: 'bcrt'
});
Object.assign(networks.regtest.keyPrefix, {
  privkey: 0xef,
  xpubkey: 0x043587cf,
  xprivkey: 0x04358394,
  xpubkey58: 'tpub',
  xprivkey58: 'tprv'
});

// leveldown 5 (the npm override; bcoin's own leveldown 4 has no prebuilt binary for Node 20)
// turns a null range option into the key "null" where leveldown 4 ignored it, and bdb passes
// every range option, set or not. Strip the unset ones before leveldown reads them.
const leveldown = load('leveldown');
const iterator = leveldown.prototype.iterator;
leveldown.prototype.iterator = function (options) {
  if (options && typeof options === 'object') {
    options = Object.assign({}, options);
    for (const key of ['gt', 'gte', 'lt', 'lte', 'start', 'end']) {
      if (options[key] == null)
        delete options[key];
    }
  }
  return iterator.call(this, options);
};

const RPC = load('bcoin/lib/node/rpc');
const { RPCError } = load('bweb');

// bcoin's sendrawtransaction hands the transaction to the relay and returns its id at once,
// even when the mempool refuses it. Bitcoin Core answers only after the mempool accepted it and
// reports a refusal as error -26 (-25 for missing inputs); ElectrumX passes that on to the
// client as the broadcast's result.
RPC.prototype.sendRawTransaction = async function (args, help) {
  if (help || args.length < 1 || args.length > 2)
    throw new RPCError(-1, 'sendrawtransaction "hexstring" ( allowhighfees )');
  if (typeof args[0] !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(args[0]))
    throw new RPCError(-22, 'TX decode failed');
  const TX = load('bcoin/lib/primitives/tx');
  let tx;
  try {
    tx = TX.fromRaw(Buffer.from(args[0], 'hex'));
  } catch (e) {
    throw new RPCError(-22, 'TX decode failed');
  }
  if (this.node.mempool.has(tx.hash()))
    return tx.txid();
  let missing;
  try {
    missing = await this.node.mempool.addTX(tx);
  } catch (e) {
    if (e.type === 'VerifyError')
      throw new RPCError(-26, `${e.reason} (code ${e.code})`);
    throw e;
  }
  if (missing)
    throw new RPCError(-25, 'bad-txns-inputs-missingorspent');
  this.node.broadcast(tx);
  return tx.txid();
};

// Bitcoin Core answers estimatesmartfee with {feerate, blocks} or, with no estimate,
// {errors, blocks}; bcoin answers {fee: -1, blocks}. ElectrumX reads `feerate`.
const estimateSmartFee = RPC.prototype.estimateSmartFee;
RPC.prototype.estimateSmartFee = async function (args, help) {
  // Core takes an optional estimate mode as the second argument; bcoin takes none.
  const answer = await estimateSmartFee.call(this, args.slice(0, 1), help);
  if (typeof answer.fee === 'number' && answer.fee > 0)
    return { feerate: answer.fee, blocks: answer.blocks };
  return { errors: ['Insufficient data or no feerate found'], blocks: answer.blocks };
};

const FullNode = load('bcoin/lib/node/fullnode');
const node = new FullNode({
  network: 'regtest',
  prefix: path.resolve(prefix),
  memory: false,
  // No wallet: the tests build and sign their own transactions.
  // ElectrumX reads confirmed transactions through getrawtransaction.
  indexTX: true,
  workers: false,
  listen: false,
  httpHost: '127.0.0.1',
  httpPort: Number(rpcPort),
  apiKey,
  logFile: true,
  logConsole: false,
  logLevel: 'warning'
});

process.on('unhandledRejection', (err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});

(async () => {
  await node.ensure();
  // Opened but never connected: no peers, so nothing but the tests' own blocks and
  // transactions (a regtest node would otherwise dial its seed, 127.0.0.1, where another
  // test's node may listen).
  await node.open();
  console.log(`bcoin regtest listening on 127.0.0.1:${rpcPort}`);
})().catch((err) => {
  console.error(err.stack);
  process.exit(1);
});
