// Token keys rotate on a running suite: the services verify with a JWKS file and sign their own
// tokens with a key file, both read again when they change. Old tokens keep working until
// their key is removed, new ones work as soon as their key is published, the services' calls
// to each other never fail, and no process restarts.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "key_pair.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/jwks.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "stack.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Call;
using testing::KeyPair;
namespace cv1 = customer::v1;
namespace av1 = assignment::v1;

void Publish(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << content;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);  // one step, as a Secret is swapped
}

// The key set as docs/deploy.md makes it: `msp_token --print_jwks key.pem...`.
std::string Jwks(const std::vector<const KeyPair*>& keys) {
  testing::TempDir dir;
  std::vector<std::string> argv = {testing::BinaryPath("tools/msp_token"), "--print_jwks"};
  for (const auto* key : keys) argv.push_back(key->private_file);
  const std::string out = dir.path() + "/jwks.json";
  EXPECT_EQ(testing::RunCommand(argv, out), 0);
  const std::string jwks = auth::ReadKeyFile(out);
  // Each key by its thumbprint.
  for (const auto* key : keys) {
    EXPECT_NE(jwks.find(auth::KeyThumbprint(key->private_pem)), std::string::npos) << jwks;
  }
  return jwks;
}

class KeyRotation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    first_ = new KeyPair(testing::kRsaKey);
    second_ = new KeyPair(testing::kP256Key);
    dir_ = new testing::TempDir();
    jwks_file_ = dir_->path() + "/jwks.json";
    signing_file_ = dir_->path() + "/signing-key.pem";
    Publish(jwks_file_, Jwks({first_}));
    Publish(signing_file_, first_->private_pem);
    stack_ = new testing::Stack({"customer", "service-assignment"},
                                {"--jwt_algorithm=RS256", "--jwt_jwks_file=" + jwks_file_,
                                 "--jwt_signing_key_file=" + signing_file_});
  }
  static void TearDownTestSuite() {
    delete stack_;
    delete dir_;
    delete first_;
    delete second_;
  }

  static std::string AdminToken(const KeyPair& key, const std::string& algorithm) {
    auth::TokenIssuer issuer(algorithm, key.private_pem, testing::kTestIssuer,
                             testing::kTestAudience);
    auth::TokenClaims claims;
    claims.kind = auth::PrincipalKind::kMspAdmin;
    claims.subject = "admin";
    claims.msp_id = "rotation";
    return issuer.Mint(claims);
  }

  // A new customer with a service: the customer service assigns it through the assignment
  // service with its own token, and a FULL read asks the assignment service again.
  static grpc::StatusCode CreateWithServices(const std::string& token, const std::string& company) {
    auto stub = cv1::CustomerService::NewStub(stack_->Channel("customer"));
    cv1::CreateCustomerRequest request;
    request.set_parent("msps/rotation");
    *request.mutable_customer() = customer::testdata::ValidCustomer(
        company, absl::StrCat("it@", company.substr(0, company.find(' ')), ".example"));
    request.add_services(av1::KNOX_CONFIGURE);
    cv1::Customer created;
    const auto status =
        Call(&cv1::CustomerService::Stub::CreateCustomer, *stub, token, request, &created);
    if (!status.ok()) {
      ADD_FAILURE() << company << ": " << status.error_message();
      return status.error_code();
    }
    cv1::GetCustomerRequest get;
    get.set_name(created.name());
    get.set_view(cv1::FULL);
    for (int i = 0; i < 100; ++i) {
      cv1::Customer read;
      const auto read_status =
          Call(&cv1::CustomerService::Stub::GetCustomer, *stub, token, get, &read);
      if (!read_status.ok()) return read_status.error_code();
      if (read.services_size() == 1 && read.services(0).state() == av1::AssignedService::ACTIVE) {
        return grpc::StatusCode::OK;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return grpc::StatusCode::DEADLINE_EXCEEDED;  // the service was never assigned
  }

  static grpc::StatusCode ListWith(const std::string& token) {
    auto stub = cv1::CustomerService::NewStub(stack_->Channel("customer"));
    cv1::ListCustomersRequest request;
    request.set_parent("msps/rotation");
    cv1::ListCustomersResponse out;
    return Call(&cv1::CustomerService::Stub::ListCustomers, *stub, token, request, &out)
        .error_code();
  }

  // Whether the assignment service accepts the token (the customer does not exist: NOT_FOUND).
  static bool AssignmentAccepts(const std::string& token) {
    auto stub = av1::ServiceAssignmentService::NewStub(stack_->Channel("service-assignment"));
    av1::ListCustomerServicesRequest request;
    request.set_parent("msps/rotation/customers/0000000000");
    av1::ListCustomerServicesResponse out;
    return Call(&av1::ServiceAssignmentService::Stub::ListCustomerServices, *stub, token, request,
                &out)
               .error_code() != grpc::StatusCode::UNAUTHENTICATED;
  }

  // Polls: the services look at their key files once a second.
  static bool Eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 100; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static KeyPair* first_;
  static KeyPair* second_;
  static testing::TempDir* dir_;
  static std::string jwks_file_, signing_file_;
  static testing::Stack* stack_;
};

KeyPair* KeyRotation::first_ = nullptr;
KeyPair* KeyRotation::second_ = nullptr;
testing::TempDir* KeyRotation::dir_ = nullptr;
std::string KeyRotation::jwks_file_, KeyRotation::signing_file_;
testing::Stack* KeyRotation::stack_ = nullptr;

TEST_F(KeyRotation, OldTokensWorkUntilTheirKeyIsRemovedAndNothingRestarts) {
  const pid_t customer_pid = stack_->service("customer").process->pid();
  const pid_t assignment_pid = stack_->service("service-assignment").process->pid();
  const std::string old_token = AdminToken(*first_, "RS256");
  const std::string new_token = AdminToken(*second_, "ES256");
  ASSERT_EQ(CreateWithServices(old_token, "Before Rotation GmbH"), grpc::StatusCode::OK);
  EXPECT_EQ(ListWith(new_token), grpc::StatusCode::UNAUTHENTICATED) << "not yet published";

  // Publish the new key, then sign with it.
  Publish(jwks_file_, Jwks({first_, second_}));
  EXPECT_TRUE(Eventually([&] { return ListWith(new_token) == grpc::StatusCode::OK; }))
      << "a published key verifies its tokens without a restart";
  // Step (2) waits until step (1) has reached every service: the assignment service must know
  // the key before the customer service signs its calls with it.
  EXPECT_TRUE(Eventually([&] { return AssignmentAccepts(new_token); }));
  Publish(signing_file_, second_->private_pem);
  EXPECT_EQ(ListWith(old_token), grpc::StatusCode::OK) << "the old key is still published";
  EXPECT_EQ(CreateWithServices(new_token, "During Rotation GmbH"), grpc::StatusCode::OK);

  // Retire the old key: its tokens stop working; the services, signing with the new key by
  // now, still reach each other.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // both have read the new key
  Publish(jwks_file_, Jwks({second_}));
  EXPECT_TRUE(Eventually([&] { return ListWith(old_token) == grpc::StatusCode::UNAUTHENTICATED; }))
      << "a removed key's tokens are refused";
  EXPECT_EQ(ListWith(new_token), grpc::StatusCode::OK);
  EXPECT_EQ(CreateWithServices(new_token, "After Rotation GmbH"), grpc::StatusCode::OK)
      << "service tokens are minted with the active key";

  EXPECT_EQ(stack_->service("customer").process->pid(), customer_pid);
  EXPECT_EQ(stack_->service("service-assignment").process->pid(), assignment_pid);
  EXPECT_TRUE(stack_->service("customer").process->Running());
  EXPECT_TRUE(stack_->service("service-assignment").process->Running());
}

}  // namespace
}  // namespace msp
