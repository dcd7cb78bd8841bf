// What grpcurl does, done by third-party Node.js clients: list every service through server
// reflection, describe each, and call them with messages built from the served descriptors
// only. No .proto file of the suite is read here. Exits non-zero on the first failed check.
'use strict';
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const { GrpcReflection } = require('grpc-js-reflection-client');

const insecure = grpc.ChannelCredentials.createInsecure();
const loaderOptions = { keepCase: true, enums: String, longs: String, defaults: false };
const servers = {
  customer: process.env.CUSTOMER_ADDR,
  'service-assignment': process.env.ASSIGNMENT_ADDR,
  'onboarding-invitation': process.env.ONBOARDING_ADDR,
  reporting: process.env.REPORTING_ADDR,
};
const token = process.env.MSP_TOKEN;

function lookup(pkg, path) {
  return path.split('.').reduce((o, k) => (o ? o[k] : undefined), pkg);
}

async function clientFor(reflection, address, serviceName) {
  const descriptor = await reflection.getDescriptorBySymbol(serviceName);
  const Service = lookup(descriptor.getPackageObject(loaderOptions), serviceName);
  assert.ok(Service, `no constructor for ${serviceName}`);
  return { client: new Service(address, insecure), root: descriptor.getProtobufJsRoot() };
}

function call(client, method, request, metadata) {
  return new Promise((resolve) => {
    client[method](request, metadata || new grpc.Metadata(), { deadline: Date.now() + 10000 },
      (err, response) => resolve({ err, response }));
  });
}

function bearer() {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

async function checkServer(name, address) {
  const reflection = new GrpcReflection(address, insecure);
  const services = await reflection.listServices();
  console.log(`${name} (${address}) list: ${services.join(', ')}`);
  assert.ok(services.includes('grpc.health.v1.Health'), `${name}: health not listed`);
  assert.ok(services.includes('grpc.reflection.v1alpha.ServerReflection'), `${name}: reflection not listed`);
  for (const service of services) {
    const methods = await reflection.listMethods(service);
    assert.ok(methods.length > 0, `${name}: ${service} describes no methods`);
    console.log(`  describe ${service}: ${methods.map((m) => m.name).join(', ')}`);
  }
  const { client: health } = await clientFor(reflection, address, 'grpc.health.v1.Health');
  const { err, response } = await call(health, 'Check', { service: '' });
  assert.ifError(err);
  assert.equal(response.status, 'SERVING', `${name}: health says ${response.status}`);
  return { reflection, services };
}

async function checkCustomerCalls(reflection, address) {
  const { client, root } = await clientFor(reflection, address, 'msp.customer.v1.CustomerService');
  const customer = {
    company: {
      display_name: 'Reflection Ltd', size: 'COMPANY_SIZE_20_99', industries: ['RETAIL'],
      country_code: 'GB', address: { address_line1: '1 High St', city: 'London', state: 'London', zip_code: 'SW1A 1AA' },
    },
    contact: { first_name: 'Ada', last_name: 'Lovelace', work_email: 'ada@reflection.example', phone: '+44 20 7946 0000' },
    management_type: 'FULLY_MANAGED',
  };
  let r = await call(client, 'CreateCustomer', { parent: 'msps/reflect', customer, request_id: 'reflect-1' }, bearer());
  assert.ifError(r.err);
  const created = r.response;
  assert.equal(created.state, 'ACTIVE');
  console.log(`  CreateCustomer -> ${created.name}`);
  r = await call(client, 'GetCustomer', { name: created.name }, bearer());
  assert.ifError(r.err);
  assert.equal(r.response.customer_id, created.customer_id);
  r = await call(client, 'ListCustomers', { parent: 'msps/reflect', page_size: 10 }, bearer());
  assert.ifError(r.err);
  assert.equal(r.response.customers.length, 1);
  r = await call(client, 'UpdateCustomer', {
    customer: { name: created.name, company: { display_name: 'Reflection Plc' } },
    update_mask: { paths: ['company.display_name'] },
  }, bearer());
  assert.ifError(r.err);
  assert.equal(r.response.company.display_name, 'Reflection Plc');
  console.log('  GetCustomer, ListCustomers, UpdateCustomer: ok');

  // An error's google.rpc.Status details, decoded with descriptors served by reflection.
  r = await call(client, 'CreateCustomer', { parent: 'msps/reflect', customer: { ...customer, contact: {} } }, bearer());
  assert.ok(r.err, 'bad input was accepted');
  assert.equal(r.err.code, grpc.status.INVALID_ARGUMENT);
  const raw = r.err.metadata.get('grpc-status-details-bin')[0];
  assert.ok(raw, 'no grpc-status-details-bin');
  const statusRoot = (await reflection.getDescriptorBySymbol('google.rpc.Status')).getProtobufJsRoot();
  const detailsRoot = (await reflection.getDescriptorBySymbol('google.rpc.BadRequest')).getProtobufJsRoot();
  const status = statusRoot.lookupType('google.rpc.Status').decode(raw);
  const fields = [];
  let reason = '';
  for (const any of status.details) {
    const typeName = any.type_url.split('/').pop();
    const decoded = detailsRoot.lookupType(typeName).decode(any.value);
    if (typeName === 'google.rpc.ErrorInfo') reason = decoded.reason;
    if (typeName === 'google.rpc.BadRequest') decoded.field_violations.forEach((v) => fields.push(v.field));
  }
  assert.equal(reason, 'INVALID_FIELDS');
  assert.ok(fields.includes('customer.contact.work_email'), `violations: ${fields}`);
  console.log(`  error details via reflection: ${reason} [${fields.join(', ')}]`);

  r = await call(client, 'GetCustomer', { name: created.name });  // no token
  assert.equal(r.err && r.err.code, grpc.status.UNAUTHENTICATED);
  void root;
}

async function checkAssignmentCalls(reflection, address) {
  const { client } = await clientFor(reflection, address, 'msp.assignment.v1.ServiceAssignmentService');
  const r = await call(client, 'CheckKnoxManageTenantId',
    { parent: 'msps/reflect', work_email: 'ada@reflection.example', prefix: 'hq' }, bearer());
  assert.ifError(r.err);
  assert.equal(r.response.tenant_id, 'hq.reflection.example');
  assert.equal(r.response.available, true);
  console.log(`  CheckKnoxManageTenantId -> ${r.response.tenant_id} available`);

  // Sixty long names of another MSP's customers: the error's trailers stay within grpc-js's
  // metadata limit, so the answer is INVALID_ARGUMENT at once (it used to wait for the deadline).
  const customers = [];
  for (let i = 0; i < 60; ++i) customers.push(`msps/rival/customers/${String(i).padStart(10, '0')}${'x'.repeat(200)}`);
  const started = Date.now();
  const many = await call(client, 'BatchGetCustomerServices', { parent: 'msps/reflect', customers }, bearer());
  assert.equal(many.err && many.err.code, grpc.status.INVALID_ARGUMENT, many.err && many.err.details);
  assert.ok(Date.now() - started < 5000, 'the error took until the deadline');
  assert.ok(many.err.metadata.get('grpc-status-details-bin')[0], 'no error details');
  console.log(`  BatchGetCustomerServices (60 foreign names) -> INVALID_ARGUMENT in ${Date.now() - started} ms`);
}

async function checkOnboardingCalls(reflection, address) {
  const { client } = await clientFor(reflection, address, 'msp.onboarding.v1.OnboardingService');
  // A well-formed name nobody has: the call goes through and answers NOT_FOUND.
  const r = await call(client, 'GetInvitation', { name: 'msps/reflect/invitations/aaaaaaaaaaaaaaaa' }, bearer());
  assert.equal(r.err && r.err.code, grpc.status.NOT_FOUND, r.err && r.err.details);
  console.log('  GetInvitation (unknown name) -> NOT_FOUND');
}

async function checkReportingCalls(reflection, address) {
  const { client } = await clientFor(reflection, address, 'msp.reporting.v1.ReportingService');
  // The customer created above reaches reporting's table through the change stream.
  let r;
  for (let i = 0; i < 200; ++i) {
    r = await call(client, 'QueryCustomerTable', { parent: 'msps/reflect', columns: ['NAME', 'CUSTOMER_ID'] }, bearer());
    if (!r.err && r.response.rows.length > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ifError(r.err);
  assert.ok(r.response.rows.length > 0, 'the table stayed empty');
  assert.deepEqual(r.response.columns, ['NAME', 'CUSTOMER_ID']);
  console.log(`  QueryCustomerTable -> ${r.response.rows.length} row(s), first ${r.response.rows[0].company_name}`);
}

(async () => {
  for (const [name, address] of Object.entries(servers)) {
    assert.ok(address, `address of ${name} not given`);
    const { reflection, services } = await checkServer(name, address);
    if (name === 'customer') {
      assert.ok(services.includes('msp.customer.v1.CustomerService'));
      await checkCustomerCalls(reflection, address);
    }
    if (name === 'service-assignment') {
      assert.ok(services.includes('msp.assignment.v1.ServiceAssignmentService'));
      await checkAssignmentCalls(reflection, address);
    }
    if (name === 'onboarding-invitation') {
      assert.ok(services.includes('msp.onboarding.v1.OnboardingService'));
      await checkOnboardingCalls(reflection, address);
    }
    if (name === 'reporting') {
      assert.ok(services.includes('msp.reporting.v1.ReportingService'));
      await checkReportingCalls(reflection, address);
    }
  }
  console.log('reflection client: all checks passed');
  process.exit(0);
})().catch((e) => {
  console.error('reflection client: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
