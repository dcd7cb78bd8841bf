#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "domain/invitation_rules.h"
#include "msp/common/migrations.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/customer.pb.h"
#include "msp/onboarding/v1/onboarding.pb.h"
#include "outbox_topics.h"

// SQL for the onboarding schema. Stateless: every call runs on the connection (and so the
// transaction) it is given.
namespace msp::onboarding {

// The onboarding schema: migrations/ plus the common idempotency_keys (2) and outbox (3).
const std::vector<Migration>& OnboardingSchemaMigrations();

// Created here, the customer not yet marked PENDING (see migrations/0001).
inline constexpr int kOpening = 0;

// What a row is (migrations/0005): an invitation or a delink request.
// What a row is (migrations/0005, 0006): an invitation, a delink request, or the
// account-set-up email of a new jointly managed customer.
enum class LinkKind { kInvitation = 1, kDelink = 2, kAccountSetup = 3 };

// One row of link_requests: an invitation, a delink request or an account-set-up email.
struct StoredLinkRequest {
  // The fields every kind has, in an Invitation message (its name is always
  // msps/{msp}/invitations/{id}; delink requests are shown through ToDelink). An OPENING row
  // shows as PENDING.
  v1::Invitation invitation;
  int raw_state = kOpening;
  std::string msp_id;
  std::string request_id;
  std::string request_hash;  // of the request that chose request_id ("" for rows made before)
  std::string requested_by;  // the admin who asked for it ("" for rows made before)
  SendHistory sends;
  LinkKind kind = LinkKind::kInvitation;
};

class LinkRequestStore {
 public:
  // Inserts an OPENING invitation and returns it; nullopt when the customer has an open one
  // (the partial unique index decides between concurrent requests).
  std::optional<StoredLinkRequest> InsertOpening(pg::Connection& conn, const std::string& msp_id,
                                                 const std::string& invitation_id,
                                                 const v1::CreateInvitationRequest& request,
                                                 const std::vector<knox::KnoxService>& services,
                                                 const customer::v1::Customer& customer,
                                                 std::chrono::system_clock::time_point expire_time,
                                                 const std::string& requested_by) const;
  // Inserts an OPENING delink request (no expiry of its own) and returns it; nullopt when the
  // customer has an open invitation or delink request.
  std::optional<StoredLinkRequest> InsertOpeningDelink(pg::Connection& conn,
                                                       const std::string& msp_id,
                                                       const std::string& delink_id,
                                                       const v1::RequestDelinkRequest& request,
                                                       const customer::v1::Customer& customer,
                                                       const std::string& requested_by) const;
  // Records an account-set-up email for the customer (PENDING at once, its link valid for
  // `ttl`) and queues it. False when `request_id` was recorded before (nothing queued). The id
  // is a service's, kept apart from the ids MSPs choose (idempotency::KeyOf).
  bool InsertAccountSetup(pg::Connection& conn, const std::string& msp_id, const std::string& id,
                          const std::string& request_id, const customer::v1::Customer& customer,
                          std::chrono::seconds ttl) const;
  std::optional<StoredLinkRequest> Find(pg::Connection& conn, const std::string& msp_id,
                                        const std::string& invitation_id, bool for_update) const;
  // When the emails MSPs had sent to the customer's super admin in the last day went out; the
  // recipient's row stays locked until the transaction ends, so sends to one recipient queue.
  std::vector<std::chrono::system_clock::time_point> LockRecipientSends(
      pg::Connection& conn, const std::string& customer_id) const;
  // Records one more such email, now (and forgets those older than a day).
  void RecordRecipientSend(pg::Connection& conn, const std::string& customer_id) const;
  std::optional<StoredLinkRequest> FindByRequestId(pg::Connection& conn, const std::string& msp_id,
                                                   const std::string& request_id) const;
  // The request an MSP made before under `request_id` (nullopt: none, or no id). Throws
  // INVALID_ARGUMENT REQUEST_ID_REUSED when that id came with another request (`hash`:
  // idempotency::RequestHash of this one).
  std::optional<StoredLinkRequest> FindReplay(pg::Connection& conn, const std::string& msp_id,
                                              const std::string& request_id, LinkKind kind,
                                              const std::string& customer_id,
                                              const std::string& hash) const;
  // Records an email about to be sent (OPENING becomes PENDING on the first).
  StoredLinkRequest RecordSend(pg::Connection& conn, const std::string& invitation_id) const;
  // Sets an answer state (ACCEPTED, REJECTED, CANCELED, EXPIRED) with the answer time.
  StoredLinkRequest SetState(pg::Connection& conn, const std::string& invitation_id,
                             v1::Invitation::State state, const std::string& reject_reason) const;
  void Delete(pg::Connection& conn, const std::string& invitation_id) const;
  // PENDING invitations past their expiry, and OPENING ones older than `age` (a crash left
  // them half made), oldest first.
  std::vector<StoredLinkRequest> DueToExpire(pg::Connection& conn, int limit) const;
  // PENDING invitations expiring within `within` that got no reminder yet; marks them
  // reminded and queues the reminder email, in the caller's transaction.
  std::vector<std::string> ClaimReminders(pg::Connection& conn, std::chrono::seconds within,
                                          int limit) const;
  std::vector<StoredLinkRequest> StaleOpening(pg::Connection& conn, std::chrono::seconds age,
                                              int limit) const;
};

}  // namespace msp::onboarding
