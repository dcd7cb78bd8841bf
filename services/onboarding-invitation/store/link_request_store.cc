#include "link_request_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "msp/common/errors.h"
#include "msp/common/idempotency.h"
#include "msp/common/outbox.h"
#include "msp/common/resource_names.h"
#include "msp/common/timestamps.h"

namespace msp {
const std::vector<Migration>& OnboardingMigrations();
}

namespace msp::onboarding {
namespace {

constexpr char kColumns[] =
    "invitation_id, msp_id, customer_id, request_id, management_type, services, "
    "knox_manage_tenant_prefix, state, company_name, contact_first_name, contact_last_name, "
    "contact_email, contact_phone, reject_reason, "
    "(extract(epoch from create_time) * 1000000)::bigint, "
    "(extract(epoch from expire_time) * 1000000)::bigint, "
    "(extract(epoch from answer_time) * 1000000)::bigint, "
    "(extract(epoch from last_send_time) * 1000000)::bigint, send_count, "
    "(extract(epoch from sends_window_start) * 1000000)::bigint, sends_in_window, kind, "
    "request_hash, requested_by";

StoredLinkRequest RowToLinkRequest(const pg::Result& r, int row) {
  StoredLinkRequest out;
  auto& inv = out.invitation;
  const std::string id = r.String(row, 0);
  out.msp_id = r.String(row, 1);
  inv.set_name(InvitationName(out.msp_id, id));
  inv.set_customer_id(r.String(row, 2));
  inv.set_customer(CustomerName(out.msp_id, inv.customer_id()));
  out.request_id = r.String(row, 3);
  inv.set_management_type(static_cast<customer::v1::ManagementType>(r.Int64(row, 4)));
  for (int service : pg::ParseIntArray(r.Text(row, 5))) {
    inv.add_services(static_cast<knox::KnoxService>(service));
  }
  inv.set_knox_manage_tenant_prefix(r.String(row, 6));
  out.raw_state = static_cast<int>(r.Int64(row, 7));
  inv.set_state(out.raw_state == kOpening ? v1::Invitation::PENDING
                                          : static_cast<v1::Invitation::State>(out.raw_state));
  inv.set_company_name(r.String(row, 8));
  inv.mutable_contact()->set_first_name(r.String(row, 9));
  inv.mutable_contact()->set_last_name(r.String(row, 10));
  inv.mutable_contact()->set_work_email(r.String(row, 11));
  inv.mutable_contact()->set_phone(r.String(row, 12));
  inv.set_reject_reason(r.String(row, 13));
  SetTimestampMicros(inv.mutable_create_time(), r.Int64(row, 14));
  SetTimestampMicros(inv.mutable_expire_time(), r.Int64(row, 15));
  if (!r.IsNull(row, 16)) SetTimestampMicros(inv.mutable_answer_time(), r.Int64(row, 16));
  if (!r.IsNull(row, 17)) {
    SetTimestampMicros(inv.mutable_last_send_time(), r.Int64(row, 17));
    out.sends.last_send = TimePointOfMicros(r.Int64(row, 17));
  }
  inv.set_send_count(static_cast<int32_t>(r.Int64(row, 18)));
  if (!r.IsNull(row, 19)) out.sends.window_start = TimePointOfMicros(r.Int64(row, 19));
  out.sends.sends_in_window = static_cast<int>(r.Int64(row, 20));
  out.kind = static_cast<LinkKind>(r.Int64(row, 21));
  out.request_hash = r.String(row, 22);
  out.requested_by = r.String(row, 23);
  return out;
}

// A request digest as the text column keeps it.
std::string HashText(const std::string& digest) { return absl::BytesToHexString(digest); }

std::vector<StoredLinkRequest> Rows(const pg::Result& r) {
  std::vector<StoredLinkRequest> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(RowToLinkRequest(r, i));
  return out;
}

}  // namespace

const std::vector<Migration>& OnboardingSchemaMigrations() {
  static const std::vector<Migration> kAll = CombineMigrations(
      OnboardingMigrations(),
      {idempotency::TableMigration(2), outbox::TableMigration(3), outbox::TopicIndexMigration(8),
       outbox::OnBehalfOfMigration(12), outbox::LeaseMigration(13), outbox::TraceMigration(14)});
  return kAll;
}

std::optional<StoredLinkRequest> LinkRequestStore::InsertOpening(
    pg::Connection& conn, const std::string& msp_id, const std::string& invitation_id,
    const v1::CreateInvitationRequest& request, const std::vector<knox::KnoxService>& services,
    const customer::v1::Customer& customer, std::chrono::system_clock::time_point expire_time,
    const std::string& requested_by) const {
  const auto expire_micros =
      std::chrono::duration_cast<std::chrono::microseconds>(expire_time.time_since_epoch()).count();
  auto r = conn.Exec(
      "INSERT INTO link_requests (invitation_id, msp_id, customer_id, request_id, management_type, "
      "services, knox_manage_tenant_prefix, state, company_name, contact_first_name, "
      "contact_last_name, contact_email, contact_phone, expire_time, request_hash, "
      "requested_by) VALUES ($1, $2, $3, $4, $5, $6::smallint[], $7, 0, $8, $9, $10, $11, $12, "
      "'epoch'::timestamptz + $13::bigint * interval '1 microsecond', $14, $15) ON CONFLICT DO "
      "NOTHING RETURNING " +
          std::string(kColumns),
      {invitation_id, msp_id, request.customer_id(), request.request_id(),
       std::to_string(request.management_type()),
       pg::ArrayLiteral(std::vector<int>(services.begin(), services.end())),
       request.knox_manage_tenant_prefix(), customer.company().display_name(),
       customer.contact().first_name(), customer.contact().last_name(),
       customer.contact().work_email(), customer.contact().phone(), std::to_string(expire_micros),
       request.request_id().empty() ? "" : HashText(idempotency::RequestHash(request)),
       requested_by});
  if (r.empty()) return std::nullopt;
  return RowToLinkRequest(r, 0);
}

std::optional<StoredLinkRequest> LinkRequestStore::InsertOpeningDelink(
    pg::Connection& conn, const std::string& msp_id, const std::string& delink_id,
    const v1::RequestDelinkRequest& request, const customer::v1::Customer& customer,
    const std::string& requested_by) const {
  auto r = conn.Exec(
      "INSERT INTO link_requests (invitation_id, kind, msp_id, customer_id, request_id, state, "
      "company_name, contact_first_name, contact_last_name, contact_email, contact_phone, "
      "expire_time, request_hash, requested_by) VALUES ($1, 2, $2, $3, $4, 0, $5, $6, $7, $8, "
      "$9, now() + interval '100 years', $10, $11) ON CONFLICT DO NOTHING RETURNING " +
          std::string(kColumns),
      {delink_id, msp_id, customer.customer_id(), request.request_id(),
       customer.company().display_name(), customer.contact().first_name(),
       customer.contact().last_name(), customer.contact().work_email(), customer.contact().phone(),
       request.request_id().empty() ? "" : HashText(idempotency::RequestHash(request)),
       requested_by});
  if (r.empty()) return std::nullopt;
  return RowToLinkRequest(r, 0);
}

bool LinkRequestStore::InsertAccountSetup(pg::Connection& conn, const std::string& msp_id,
                                          const std::string& id, const std::string& request_id,
                                          const customer::v1::Customer& customer,
                                          std::chrono::seconds ttl) const {
  auto r = conn.Exec(
      "WITH row AS (INSERT INTO link_requests (invitation_id, kind, msp_id, customer_id, "
      "request_id, state, company_name, contact_first_name, contact_last_name, contact_email, "
      "contact_phone, expire_time, last_send_time, send_count, sends_window_start, "
      "sends_in_window) VALUES ($1, 3, $2, $3, $4, 1, $5, $6, $7, $8, $9, now() + $10::bigint * "
      "interval '1 second', now(), 1, now(), 1) ON CONFLICT DO NOTHING RETURNING invitation_id), "
      "queued AS (" +
          outbox::InsertRows(absl::StrCat("SELECT $2, ",
                                          outbox::TopicLiteral(kInvitationEmailTopic),
                                          ", invitation_id, 'first'::bytea, '' FROM row")) +
          ") SELECT count(*) FROM row",
      {id, msp_id, customer.customer_id(), idempotency::KeyOf(/*from_service=*/true, request_id),
       customer.company().display_name(), customer.contact().first_name(),
       customer.contact().last_name(), customer.contact().work_email(), customer.contact().phone(),
       std::to_string(ttl.count())});
  return r.Int64(0, 0) == 1;
}

std::optional<StoredLinkRequest> LinkRequestStore::Find(pg::Connection& conn,
                                                        const std::string& msp_id,
                                                        const std::string& invitation_id,
                                                        bool for_update) const {
  auto r = conn.Exec(absl::StrCat("SELECT ", kColumns,
                                  " FROM link_requests WHERE invitation_id = $1 AND msp_id = $2",
                                  for_update ? " FOR UPDATE" : ""),
                     {invitation_id, msp_id});
  if (r.empty()) return std::nullopt;
  return RowToLinkRequest(r, 0);
}

std::optional<StoredLinkRequest> LinkRequestStore::FindByRequestId(
    pg::Connection& conn, const std::string& msp_id, const std::string& request_id) const {
  auto r = conn.Exec(absl::StrCat("SELECT ", kColumns,
                                  " FROM link_requests WHERE msp_id = $1 AND request_id = $2"),
                     {msp_id, request_id});
  if (r.empty()) return std::nullopt;
  return RowToLinkRequest(r, 0);
}

std::optional<StoredLinkRequest> LinkRequestStore::FindReplay(
    pg::Connection& conn, const std::string& msp_id, const std::string& request_id, LinkKind kind,
    const std::string& customer_id, const std::string& hash) const {
  if (request_id.empty()) return std::nullopt;
  auto prior = FindByRequestId(conn, msp_id, request_id);
  if (!prior) return std::nullopt;
  const bool same = prior->kind == kind && prior->invitation.customer_id() == customer_id &&
                    (prior->request_hash.empty() || prior->request_hash == HashText(hash));
  if (!same) {
    throw ApiError::InvalidArgument(
        {{"request_id", "already used for a different request; use a new request_id"}},
        "REQUEST_ID_REUSED");
  }
  return prior;
}

std::vector<std::chrono::system_clock::time_point> LinkRequestStore::LockRecipientSends(
    pg::Connection& conn, const std::string& customer_id) const {
  conn.Exec("INSERT INTO recipient_sends (customer_id) VALUES ($1) ON CONFLICT DO NOTHING",
            {customer_id});
  auto r = conn.Exec(
      "SELECT (extract(epoch from t) * 1000000)::bigint FROM recipient_sends r "
      "LEFT JOIN LATERAL unnest(r.sent_at) t ON t > now() - interval '1 day' "
      "WHERE r.customer_id = $1 FOR UPDATE OF r",
      {customer_id});
  std::vector<std::chrono::system_clock::time_point> sends;
  for (int i = 0; i < r.rows(); ++i) {
    if (!r.IsNull(i, 0)) sends.push_back(TimePointOfMicros(r.Int64(i, 0)));
  }
  return sends;
}

void LinkRequestStore::RecordRecipientSend(pg::Connection& conn,
                                           const std::string& customer_id) const {
  conn.Exec(
      "INSERT INTO recipient_sends AS r (customer_id, sent_at) VALUES ($1, ARRAY[now()]) "
      "ON CONFLICT (customer_id) DO UPDATE SET sent_at = array(SELECT t FROM unnest(r.sent_at) "
      "t WHERE t > now() - interval '1 day') || now()",
      {customer_id});
}

StoredLinkRequest LinkRequestStore::RecordSend(pg::Connection& conn,
                                               const std::string& invitation_id) const {
  auto r = conn.Exec(
      absl::StrCat(
          "UPDATE link_requests SET state = CASE WHEN state = 0 THEN 1 ELSE state END, "
          "last_send_time = now(), send_count = send_count + 1, "
          "sends_in_window = CASE WHEN sends_window_start IS NULL OR sends_window_start < now() - "
          "interval '1 day' THEN 1 ELSE sends_in_window + 1 END, "
          "sends_window_start = CASE WHEN sends_window_start IS NULL OR sends_window_start < "
          "now() - interval '1 day' THEN now() ELSE sends_window_start END "
          "WHERE invitation_id = $1 RETURNING ",
          kColumns),
      {invitation_id});
  return RowToLinkRequest(r, 0);
}

StoredLinkRequest LinkRequestStore::SetState(pg::Connection& conn, const std::string& invitation_id,
                                             v1::Invitation::State state,
                                             const std::string& reject_reason) const {
  auto r = conn.Exec(absl::StrCat("UPDATE link_requests SET state = $2, reject_reason = $3, "
                                  "answer_time = now() WHERE invitation_id = $1 RETURNING ",
                                  kColumns),
                     {invitation_id, std::to_string(state), reject_reason});
  return RowToLinkRequest(r, 0);
}

void LinkRequestStore::Delete(pg::Connection& conn, const std::string& invitation_id) const {
  conn.Exec("DELETE FROM link_requests WHERE invitation_id = $1 AND state = 0", {invitation_id});
}

std::vector<StoredLinkRequest> LinkRequestStore::DueToExpire(pg::Connection& conn,
                                                             int limit) const {
  return Rows(conn.Exec(
      absl::StrCat("SELECT ", kColumns,
                   " FROM link_requests WHERE state = 1 AND kind = 1 AND expire_time < now() "
                   "ORDER BY expire_time LIMIT $1"),
      {std::to_string(limit)}));
}

std::vector<std::string> LinkRequestStore::ClaimReminders(pg::Connection& conn,
                                                          std::chrono::seconds within,
                                                          int limit) const {
  auto r = conn.Exec(
      "WITH due AS (SELECT invitation_id FROM link_requests WHERE state = 1 AND kind = 1 AND NOT "
      "reminder_sent "
      "AND expire_time > now() AND expire_time < now() + $1::bigint * interval '1 second' "
      "ORDER BY expire_time LIMIT $2 FOR UPDATE SKIP LOCKED), "
      "marked AS (UPDATE link_requests i SET reminder_sent = true FROM due WHERE i.invitation_id = "
      "due.invitation_id RETURNING i.invitation_id, i.msp_id), "
      "queued AS (" +
          outbox::InsertRows(absl::StrCat("SELECT msp_id, ",
                                          outbox::TopicLiteral(kInvitationEmailTopic),
                                          ", invitation_id, 'reminder'::bytea, '' FROM marked")) +
          ") SELECT invitation_id FROM marked",
      {std::to_string(within.count()), std::to_string(limit)});
  std::vector<std::string> ids;
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.String(i, 0));
  return ids;
}

std::vector<StoredLinkRequest> LinkRequestStore::StaleOpening(pg::Connection& conn,
                                                              std::chrono::seconds age,
                                                              int limit) const {
  return Rows(conn.Exec(absl::StrCat("SELECT ", kColumns,
                                     " FROM link_requests WHERE state = 0 AND create_time < now() "
                                     "- $1::bigint * interval '1 second' ORDER BY create_time "
                                     "LIMIT $2"),
                        {std::to_string(age.count()), std::to_string(limit)}));
}

}  // namespace msp::onboarding
