#include "domain/bulk_jobs.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "msp/common/idempotency.h"
#include "testdata/bulk_import_files.h"

namespace msp::customer {
namespace {

using testdata::BulkCsvRow;
using testdata::kBulkCsvHeader;

std::string Refusal(std::string_view text) {
  try {
    CheckImportFile(text, FreeMailDomains());
  } catch (const ApiError& e) {
    EXPECT_EQ(e.reason(), "UNREADABLE_FILE");
    std::string out;
    for (const auto& v : e.field_violations()) {
      EXPECT_EQ(v.field, "chunk");
      absl::StrAppend(&out, v.description, ";");
    }
    return out;
  }
  return "accepted";
}

TEST(BulkJobFile, AFileThatCannotBeReadSaysWhy) {
  EXPECT_EQ(Refusal(""), "the file is empty;");
  EXPECT_EQ(Refusal(kBulkCsvHeader), "the file has a header and no rows;");
  EXPECT_EQ(Refusal(absl::StrCat(kBulkCsvHeader, "\"open,\r\n")).rfind("line 2: ", 0), 0u);
  EXPECT_EQ(Refusal("company_name,colour\r\nAcme,blue\r\n").find("column colour: "), 0u);
}

TEST(BulkJobFile, AtMostOneHundredThousandRows) {
  std::string file = kBulkCsvHeader;
  const std::string row = BulkCsvRow("Same GmbH", "it@same.example");
  for (int i = 0; i < kMaxBulkJobRows; ++i) file += row;
  EXPECT_EQ(CheckImportFile(file, FreeMailDomains()).rows.size(),
            static_cast<size_t>(kMaxBulkJobRows));
  file += row;
  EXPECT_EQ(Refusal(file), "at most 100000 rows a job;");
}

TEST(BulkJobFile, RowsWithProblemsAreCounted) {
  const CheckedFile checked = CheckImportFile(
      absl::StrCat(kBulkCsvHeader, BulkCsvRow("A GmbH", "it@a.example"),
                   BulkCsvRow("B GmbH", "it@b.example", "JOINTLY_MANAGED", "", "", "huge"),
                   BulkCsvRow("A GmbH", "it@a.example")),
      FreeMailDomains());
  ASSERT_EQ(checked.rows.size(), 3u);
  EXPECT_EQ(checked.invalid_rows, 2);
  v1::BulkJob job;
  AddProblems(checked.rows, 1, job);
  ASSERT_EQ(job.problems_size(), 1);  // at most the limit
  EXPECT_EQ(job.problems(0).row(), 2);
  EXPECT_EQ(job.problems(0).line(), 3);
  EXPECT_EQ(job.problems(0).field(), "company_size");
}

TEST(BulkJobFile, ARowWhoseTenantExistsIsAProblem) {
  CheckedFile checked = CheckImportFile(
      absl::StrCat(kBulkCsvHeader,
                   BulkCsvRow("A GmbH", "it@a.example", "FULLY_MANAGED", "KNOX_MANAGE"),
                   BulkCsvRow("B GmbH", "it@b.example", "FULLY_MANAGED", "KNOX_MANAGE", "eu"),
                   BulkCsvRow("C GmbH", "it@c.example", "FULLY_MANAGED", "KNOX_GUARD"),
                   BulkCsvRow("D GmbH", "it@d.example", "FULLY_MANAGED", "KNOX_MANAGE", "", "x")),
      FreeMailDomains());
  ASSERT_EQ(checked.invalid_rows, 1);  // D: its size
  // Valid rows with Knox Manage only.
  EXPECT_EQ(TenantIdsToCheck(checked), (std::vector<std::string>{"a.example", "eu.b.example"}));
  MarkTakenTenantIds(checked, {"eu.b.example", "d.example"});
  EXPECT_EQ(checked.invalid_rows, 2);
  EXPECT_TRUE(checked.rows[0].problems.empty());
  ASSERT_EQ(checked.rows[1].problems.size(), 1u);
  EXPECT_EQ(checked.rows[1].problems[0].field, "knox_manage_tenant_prefix");
  EXPECT_EQ(checked.rows[1].problems[0].description,
            "Knox Manage tenant id eu.b.example exists already: give this row a prefix of its own");
  EXPECT_EQ(checked.rows[3].problems.size(), 1u);  // already invalid: not judged again
}

TEST(BulkJobRows, ProblemsReadBackAsStored) {
  const std::vector<FieldViolation> problems = {{"work_email", "a free-mail\taddress"},
                                                {"", "the same company as row 1\nagain"}};
  const auto decoded = DecodeProblems(EncodeProblems(problems));
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[0].field, "work_email");
  EXPECT_EQ(decoded[0].description, "a free-mail address");
  EXPECT_EQ(decoded[1].field, "");
  EXPECT_EQ(decoded[1].description, "the same company as row 1 again");
  EXPECT_TRUE(DecodeProblems("").empty());
}

TEST(BulkJobRows, EachRowHasARequestIdNoMspCanChoose) {
  EXPECT_EQ(RowRequestId("abc0123456", 17), "bulkJobs/abc0123456/rows/17");
  // An MSP's request ids hold no '/': none can take a row's id (and answer or suppress it).
  EXPECT_FALSE(idempotency::IsValidRequestId(RowRequestId("abc0123456", 17)));
}

TEST(BulkJobResult, ALinePerRowAndPerProblem) {
  constexpr auto kCreate = v1::BulkJob::CREATE_CUSTOMERS;
  std::string out = ResultCsvHeader();
  AppendResultLines(out, {1, 2, RowOutcome::kCreated, "qz38864maf", {}}, kCreate);
  AppendResultLines(out,
                    {2,
                     3,
                     RowOutcome::kInvalid,
                     "",
                     {{"company_size", "one of 0-19, 20-99"}, {"work_email", "required"}}},
                    kCreate);
  AppendResultLines(out, {3, 5, RowOutcome::kFailed, "", {{"", "=HYPERLINK(\"x\")"}}}, kCreate);
  AppendResultLines(out, {4, 6, RowOutcome::kCancelled, "", {}}, kCreate);
  EXPECT_EQ(out,
            "row,line,outcome,customer_id,field,reason\r\n"
            "1,2,CREATED,qz38864maf,,\r\n"
            "2,3,INVALID,,company_size,\"one of 0-19, 20-99\"\r\n"
            "2,3,INVALID,,work_email,required\r\n"
            "3,5,FAILED,,,\"'=HYPERLINK(\"\"x\"\")\"\r\n"
            "4,6,CANCELLED,,,\r\n");
}

TEST(BulkJobResult, ARefusalNamesTheTemplatesColumn) {
  const auto violation =
      FailureOf(ApiError::InvalidArgument({{"customer.contact.work_email", "not an email"},
                                           {"customer.company.size", "required"}}),
                v1::BulkJob::CREATE_CUSTOMERS);
  EXPECT_EQ(violation.field, "work_email");
  EXPECT_EQ(violation.description, "not an email");
  const auto precondition =
      FailureOf(ApiError::FailedPrecondition("TENANT_ID_TAKEN", "the tenant id is taken"),
                v1::BulkJob::CREATE_CUSTOMERS);
  const auto invitation =
      FailureOf(ApiError::InvalidArgument(
                    {{"services[1]", "Knox Guard is not offered to existing customers"}}),
                v1::BulkJob::INVITE_CUSTOMERS);
  EXPECT_EQ(invitation.field, "services");
  EXPECT_EQ(precondition.field, "");
  EXPECT_EQ(precondition.description, "TENANT_ID_TAKEN: the tenant id is taken");
}

TEST(BulkJobLifecycle, OnlyAValidatedJobStartsAndCancelsAtOnce) {
  EXPECT_TRUE(MayStart(v1::BulkJob::VALIDATED));
  for (auto s : {v1::BulkJob::RUNNING, v1::BulkJob::CANCELLING, v1::BulkJob::SUCCEEDED,
                 v1::BulkJob::CANCELLED}) {
    EXPECT_FALSE(MayStart(s)) << s;
  }
  EXPECT_EQ(StateAfterCancel(v1::BulkJob::VALIDATED), v1::BulkJob::CANCELLED);
  EXPECT_EQ(StateAfterCancel(v1::BulkJob::RUNNING), v1::BulkJob::CANCELLING);
  EXPECT_EQ(StateAfterCancel(v1::BulkJob::CANCELLING), v1::BulkJob::CANCELLING);
  EXPECT_EQ(StateAfterCancel(v1::BulkJob::SUCCEEDED), v1::BulkJob::SUCCEEDED);
  EXPECT_TRUE(HasEnded(v1::BulkJob::CANCELLED));
  EXPECT_FALSE(HasEnded(v1::BulkJob::CANCELLING));
}

TEST(BulkJobProgress, RateAndTimeLeftSinceTheRunStarted) {
  EXPECT_EQ(EstimateRate(0, 5, 100).rows_per_second, 0);
  EXPECT_FALSE(EstimateRate(0, 5, 100).time_left.has_value());
  const RunRate rate = EstimateRate(200, 4, 1001);
  EXPECT_DOUBLE_EQ(rate.rows_per_second, 50);
  ASSERT_TRUE(rate.time_left.has_value());
  EXPECT_EQ(rate.time_left->count(), 21);  // 20.02 s, rounded up
  EXPECT_EQ(EstimateRate(10, 1, 0).time_left->count(), 0);
}

}  // namespace
}  // namespace msp::customer
