// grpcurl's `list` and `describe`, done with the third-party reflection client, for
// grpcurl_doc_e2e_test (grpcurl itself is not packaged for Debian; msp_call makes the calls):
//   node grpcurl_reflect.js HOST:PORT list [SERVICE]
//   node grpcurl_reflect.js HOST:PORT describe SYMBOL
// Prints what it found; exits 1 when the symbol is unknown.
'use strict';
const grpc = require('@grpc/grpc-js');
const { GrpcReflection } = require('grpc-js-reflection-client');

const [address, verb, symbol] = process.argv.slice(2);
const reflection = new GrpcReflection(address, grpc.ChannelCredentials.createInsecure());

function lookup(root, name) {
  try {
    return root.lookup(name);
  } catch (e) {
    return null;
  }
}

(async () => {
  if (verb === 'list') {
    if (!symbol) {
      for (const s of await reflection.listServices()) console.log(s);
    } else {
      for (const m of await reflection.listMethods(symbol)) console.log(`${symbol}.${m.name}`);
    }
    return 0;
  }
  if (verb === 'describe' && symbol) {
    const root = (await reflection.getDescriptorBySymbol(symbol)).getProtobufJsRoot();
    const found = lookup(root, symbol);
    if (!found) {
      console.error(`${symbol}: not found`);
      return 1;
    }
    console.log(JSON.stringify(found.toJSON(), null, 2));
    return 0;
  }
  console.error('usage: grpcurl_reflect.js HOST:PORT list [SERVICE] | describe SYMBOL');
  return 2;
})().then((code) => process.exit(code), (e) => {
  console.error(String(e && e.message || e));
  process.exit(1);
});
