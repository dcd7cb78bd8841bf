// Starts each service binary exactly as the rendered `dev` overlay tells Kubernetes to: its
// command and args, its environment with the ConfigMap and Secret values resolved, the files its
// Secret volumes mount, its emptyDirs, its ports. Only what points outside the pod is mapped:
// the database URL and Redis address to this test's own servers, other services' names to
// where this test started them, container ports to free loopback ports, mount paths to a temp
// dir. Then it probes every container as the kubelet would (gRPC health: startup and liveness
// on "liveness", readiness on "") and makes a real call with a token signed by the overlay's
// JWT secret, so that the manifests' configuration is proven whole, not just well-formed.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "msp/common/auth.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "processes.h"
#include "stack.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using nlohmann::json;

std::string RunAndRead(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command;
  return out;
}

// The build tree's path of a binary the image ships under /usr/local/bin.
std::string BuildPathOf(const std::string& image_path) {
  static const std::map<std::string, std::string> kPaths = {
      {"customer_server", "services/customer/customer_server"},
      {"service_assignment_server", "services/service-assignment/service_assignment_server"},
      {"onboarding_invitation_server",
       "services/onboarding-invitation/onboarding_invitation_server"},
      {"reporting_server", "services/reporting/reporting_server"}};
  const std::string name = std::filesystem::path(image_path).filename();
  auto it = kPaths.find(name);
  return it == kPaths.end() ? "" : testing::BinaryPath(it->second);
}

bool Serving(const std::string& address, const std::string& service) {
  return testing::WaitForServing(address, std::chrono::milliseconds(200), service);
}

// How a pod's container runs: the build tree's binary as a process here, or the image's in a
// container (host network, so the same loopback addresses reach the test's servers).
struct Runtime {
  std::string image;  // empty: the build tree's binaries
};

// The docker run of a container as the kubelet would start it from the spec: its user, a
// read-only root, the capabilities dropped, no privilege escalation, the Secret files mounted
// read-only where the pod has them, emptyDirs as tmpfs the user can write, its environment,
// command and args. In the foreground, so that the container's output is the log and a SIGTERM
// to docker reaches the server (docker run passes signals on).
std::vector<std::string> DockerRun(const json& d, const std::string& image, const std::string& name,
                                   const std::string& dir,
                                   const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {
      testing::DockerClient(), "run", "--rm", "--name", name, "--network", "host",
      "--stop-timeout",        "40"};
  argv.push_back(
      absl::StrCat("--user=", d.at("run_as_user").get<int>(), ":", d.at("run_as_user").get<int>()));
  if (d.at("read_only_root").get<bool>()) argv.push_back("--read-only");
  for (const auto& capability : d.at("drop_capabilities")) {
    argv.push_back(absl::StrCat("--cap-drop=", capability.get<std::string>()));
  }
  if (!d.at("allow_privilege_escalation").get<bool>()) {
    argv.push_back("--security-opt=no-new-privileges");
  }
  for (const auto& [path, content] : d.at("files").items()) {
    argv.push_back(absl::StrCat("--volume=", dir, path, ":", path, ":ro"));
  }
  for (const auto& path : d.at("empty_dirs")) {
    argv.push_back(absl::StrCat("--tmpfs=", path.get<std::string>(),
                                ":rw,uid=", d.at("run_as_user").get<int>()));
  }
  for (const auto& [key, value] : env) argv.push_back(absl::StrCat("--env=", key, "=", value));
  const auto& command = d.at("command");
  argv.push_back("--entrypoint=" + command[0].get<std::string>());
  argv.push_back(image);
  for (size_t i = 1; i < command.size(); ++i) argv.push_back(command[i]);
  for (const auto& a : d.at("args")) argv.push_back(a);
  return argv;
}

// Starts each service of the rendered dev overlay (from the build tree or the image), probes
// them as the kubelet would, makes a real call, and stops them as the kubelet would.
void LaunchTheDevOverlay(const Runtime& runtime) {
  const std::string root = std::filesystem::path(MSP_SOURCE_DIR);
  const json rendered = json::parse(RunAndRead(absl::StrCat(
      "node ", root, "/deploy/tests/launch_specs.js ", root, "/deploy/k8s/overlays/dev")));
  const json& deployments = rendered.at("deployments");
  ASSERT_EQ(deployments.size(), 4u);

  testing::PostgresServer postgres;
  postgres.CreateDatabase("msp");
  testing::RedisServer redis;
  testing::TempDir pod_root;

  // Where each in-cluster name is here: services by their grpc port, postgres and redis.
  std::map<std::string, std::string> address_of;  // "customer:50051" -> "127.0.0.1:NNNN"
  std::map<std::string, int> grpc_port_of;        // deployment -> local port
  for (const auto& [service, ports] : rendered.at("services").items()) {
    for (const auto& [port_name, port] : ports.items()) {
      const std::string in_cluster = absl::StrCat(service, ":", port.get<int>());
      if (service == "redis") {
        address_of[in_cluster] = absl::StrCat("127.0.0.1:", redis.port());
      } else if (port_name == "grpc") {
        grpc_port_of[service] = testing::FreePort();
        address_of[in_cluster] = absl::StrCat("127.0.0.1:", grpc_port_of[service]);
      }
    }
  }

  std::vector<std::unique_ptr<testing::ChildProcess>> pods;
  // Containers go with the test, however it ends (a docker client killed leaves its container).
  std::vector<std::string> containers;
  struct RemoveContainers {
    std::vector<std::string>* names;
    ~RemoveContainers() {
      for (const auto& name : *names) {
        testing::RunCommand({testing::DockerClient(), "rm", "-f", name}, "/dev/null");
      }
    }
  } remove_containers{&containers};
  std::string jwt_secret, jwt_issuer, jwt_audience;
  for (const auto& d : deployments) {
    const std::string name = d.at("name");
    SCOPED_TRACE(name);
    // The restricted security context the manifests promise.
    EXPECT_EQ(d.at("run_as_user"), 10001);
    EXPECT_TRUE(d.at("read_only_root").get<bool>());
    const std::string dir = absl::StrCat(pod_root.path(), "/", name);
    auto local = [&](const std::string& pod_path) { return dir + pod_path; };
    for (const auto& [path, content] : d.at("files").items()) {
      std::filesystem::create_directories(std::filesystem::path(local(path)).parent_path());
      std::ofstream(local(path)) << content.get<std::string>();
    }
    for (const auto& path : d.at("empty_dirs")) {
      std::filesystem::create_directories(local(path.get<std::string>()));
    }
    // In a container the pod's paths are the pod's (its files are mounted there); here they
    // lie under the pod's directory.
    const bool in_container = !runtime.image.empty();
    std::map<std::string, std::string> env;
    for (const auto& [key, value_json] : d.at("env").items()) {
      std::string value = value_json;
      if (key == "MSP_DATABASE_URL") {
        value = postgres.ConnInfo("msp");
      } else if (key == "MSP_LISTEN") {
        EXPECT_EQ(value, absl::StrCat("0.0.0.0:", d.at("ports").at("grpc").get<int>()));
        value = address_of.at(absl::StrCat(name, ":", d.at("ports").at("grpc").get<int>()));
      } else if (key == "MSP_METRICS_PORT") {
        EXPECT_EQ(value, std::to_string(d.at("ports").at("metrics").get<int>()));
        value = std::to_string(testing::FreePort());
      } else if (key == "MSP_METRICS_BIND") {
        value = "127.0.0.1";
      } else if (address_of.count(value)) {
        value = address_of.at(value);  // another service, or Redis
      } else if (!in_container) {
        // A path inside the pod (a mounted file, the mail spool): under this pod's directory.
        for (const std::string prefix : {"/etc/msp/", "/var/spool/", "/tmp"}) {
          const auto at = value.find(prefix);
          if (at != std::string::npos) {
            value = value.substr(0, at) + local(value.substr(at));
            break;  // once: the local path itself lies under /tmp
          }
        }
      }
      env[key] = value;
    }
    if (name == "customer") {
      jwt_secret = d.at("files").at("/etc/msp/jwt/signing-key");
      jwt_issuer = d.at("env").at("MSP_JWT_ISSUER");
      jwt_audience = d.at("env").at("MSP_JWT_AUDIENCE");
    }
    std::vector<std::string> argv;
    const auto& command = d.at("command");
    ASSERT_FALSE(command.empty());
    if (in_container) {
      containers.push_back(absl::StrCat("msp-launch-", name, "-", ::getpid()));
      argv = DockerRun(d, runtime.image, containers.back(), dir, env);
      env.clear();
    } else {
      argv.push_back(BuildPathOf(command[0]));
      ASSERT_FALSE(argv[0].empty()) << "no build target for " << command[0].get<std::string>();
      for (size_t i = 1; i < command.size(); ++i) argv.push_back(command[i]);
      for (const auto& a : d.at("args")) argv.push_back(a);
    }
    pods.push_back(std::make_unique<testing::ChildProcess>(argv, env, dir + "/log"));
  }

  // The kubelet's view: startup (liveness name) within the probe's budget, then ready on "".
  for (size_t i = 0; i < deployments.size(); ++i) {
    const auto& d = deployments[i];
    const std::string name = d.at("name");
    SCOPED_TRACE(name);
    const std::string address = absl::StrCat("127.0.0.1:", grpc_port_of.at(name));
    const auto& startup = d.at("startup");
    EXPECT_EQ(startup.at("port"), d.at("ports").at("grpc"));
    ASSERT_TRUE(testing::WaitForServing(address, std::chrono::seconds(120), startup.at("service")))
        << pods[i]->ReadLog();
    EXPECT_TRUE(testing::WaitForServing(address, std::chrono::seconds(30),
                                        d.at("readiness").at("service")));
    EXPECT_EQ(d.at("readiness").at("service"), "");
    EXPECT_TRUE(Serving(address, d.at("liveness").at("service")));
    if (!runtime.image.empty()) {
      // What the engine says it runs: the user, the read-only root, no capabilities.
      EXPECT_EQ(
          RunAndRead(absl::StrCat(testing::DockerClient(),
                                  " inspect -f '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} "
                                  "{{.HostConfig.CapDrop}} {{.State.Running}}' ",
                                  containers[i])),
          "10001:10001 true [ALL] true\n");
    }
  }

  // A real call, authorised by a token signed with the overlay's JWT secret and issuer.
  auth::TokenIssuer issuer("HS256", jwt_secret, jwt_issuer, jwt_audience);
  auth::TokenClaims claims;
  claims.subject = "admin";
  claims.msp_id = "k8s";
  const std::string token = issuer.Mint(claims);
  auto customers = customer::v1::CustomerService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", grpc_port_of.at("customer")), grpc::InsecureChannelCredentials()));
  customer::v1::CreateCustomerRequest create;
  create.set_parent("msps/k8s");
  *create.mutable_customer() =
      customer::testdata::ValidCustomer("Manifest GmbH", "it@manifest.example");
  customer::v1::Customer created;
  const auto status = testing::Call(&customer::v1::CustomerService::Stub::CreateCustomer,
                                    *customers, token, create, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // And it travels: the reporting pod sees it through Redis (its consumer) and the database.
  auto reporting = reporting::v1::ReportingService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_of.at("reporting")),
                          grpc::InsecureChannelCredentials()));
  reporting::v1::QueryCustomerTableRequest query;
  query.set_parent("msps/k8s");
  bool shown = false;
  for (int i = 0; i < 200 && !shown; ++i) {
    reporting::v1::QueryCustomerTableResponse page;
    shown = testing::Call(&reporting::v1::ReportingService::Stub::QueryCustomerTable, *reporting,
                          token, query, &page)
                .ok() &&
            page.rows_size() == 1;
    if (!shown) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(shown);

  // SIGTERM as the kubelet sends it: every pod exits 0 within the grace period.
  for (auto& pod : pods) pod->Signal(SIGTERM);
  for (size_t i = 0; i < pods.size(); ++i) {
    EXPECT_EQ(pods[i]->Wait(std::chrono::seconds(40)), 0)
        << deployments[i].at("name").get<std::string>() << "\n"
        << pods[i]->ReadLog();
  }
}

TEST(ManifestLaunch, TheDevOverlayStartsEveryServiceAndKubernetesProbesPass) {
  LaunchTheDevOverlay({});
}

// The same pods from the real image (tools/image, from this build tree's binaries): every
// server runs in a container as user 10001 with a read-only root and no capabilities, with the
// overlay's environment and mounted files, passes the kubelet's probes, serves a
// CreateCustomer, and exits 0 on SIGTERM.
TEST(ManifestLaunch, ThePodsRunFromTheImageReadOnlyAsUser10001) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer build is never shipped in the image (its runtime is not there); "
                  "the Release tree's run of this test builds and runs the image";
#endif
  const std::string image = absl::StrCat("msp-suite:launch-test-", ::getpid());
  const std::string log = absl::StrCat(::testing::TempDir(), "/image-build.log");
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(testing::RunCommand({std::string(MSP_SOURCE_DIR) + "/tools/image", "build",
                                 "--prebuilt", testing::BinaryPath(""), "--tag", image},
                                log),
            0)
      << "the image did not build (tools/image):\n"
      << RunAndRead("cat " + log);
  std::printf("image: built %s in %.1f s\n", image.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  LaunchTheDevOverlay({image});
  testing::RunCommand({testing::DockerClient(), "rmi", image}, log);
}

}  // namespace
}  // namespace msp
