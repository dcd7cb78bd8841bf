#include "domain/import_rows.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "msp/common/knox_services.h"

namespace msp::customer {
namespace {

// The request field each column fills, and how.
using Setter = void (*)(v1::CreateCustomerRequest&, const std::string&, std::string* problem);

struct ColumnSpec {
  ImportColumn column;
  Setter set;
};

v1::Customer& Of(v1::CreateCustomerRequest& r) { return *r.mutable_customer(); }

std::string Upper(const std::string& text) {
  std::string out = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  for (char& c : out) {
    if (c == ' ' || c == '-') c = '_';
  }
  return out;
}

std::vector<std::string> ListItems(const std::string& cell) {
  std::vector<std::string> items;
  for (auto item : absl::StrSplit(cell, '|', absl::SkipWhitespace())) {
    items.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return items;
}

std::optional<v1::CompanySize> ParseSize(const std::string& cell) {
  static const std::map<std::string, v1::CompanySize> kShort = {
      {"0_19", v1::COMPANY_SIZE_0_19},          {"20_99", v1::COMPANY_SIZE_20_99},
      {"100_249", v1::COMPANY_SIZE_100_249},    {"250_499", v1::COMPANY_SIZE_250_499},
      {"500_999", v1::COMPANY_SIZE_500_999},    {"1000+", v1::COMPANY_SIZE_1000_PLUS},
      {"1000_PLUS", v1::COMPANY_SIZE_1000_PLUS}};
  const std::string key = Upper(cell);
  v1::CompanySize size;
  if (v1::CompanySize_Parse(key, &size) && size != v1::COMPANY_SIZE_UNSPECIFIED) return size;
  if (const auto it = kShort.find(key); it != kShort.end()) return it->second;
  return std::nullopt;
}

}  // namespace

v1::ManagementType ParseManagementTypeCell(const std::string& cell, std::string* problem) {
  if (cell.empty()) return v1::MANAGEMENT_TYPE_UNSPECIFIED;
  std::string key = Upper(cell);
  if (key == "FULLY" || key == "JOINTLY") key += "_MANAGED";
  v1::ManagementType type;
  if (v1::ManagementType_Parse(key, &type) && type != v1::MANAGEMENT_TYPE_UNSPECIFIED) return type;
  *problem = "FULLY_MANAGED or JOINTLY_MANAGED";
  return v1::MANAGEMENT_TYPE_UNSPECIFIED;
}

std::vector<knox::KnoxService> ParseServicesCell(const std::string& cell, std::string* problem) {
  std::vector<knox::KnoxService> services;
  for (const auto& item : ListItems(cell)) {
    assignment::v1::KnoxService service;
    if (auto by_id = knox::ServiceFromId(absl::AsciiStrToLower(item))) {
      services.push_back(*by_id);
    } else if (assignment::v1::KnoxService_Parse(Upper(item), &service) &&
               knox::IsKnownService(service)) {
      services.push_back(service);
    } else {
      *problem = absl::StrCat("not a Knox service: ", item, " (names separated by |)");
      return {};
    }
  }
  return services;
}

namespace {

const std::vector<ColumnSpec>& Specs() {
  static const auto* specs = new std::vector<ColumnSpec>{
      {{"company_name", "customer.company.display_name", true},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_company()->set_display_name(v); }},
      {{"company_size", "customer.company.size", true},
       [](auto& r, const auto& v, auto* problem) {
         if (v.empty()) return;
         if (auto size = ParseSize(v)) {
           Of(r).mutable_company()->set_size(*size);
         } else {
           *problem = "one of 0-19, 20-99, 100-249, 250-499, 500-999, 1000+";
         }
       }},
      {{"industries", "customer.company.industries", true},
       [](auto& r, const auto& v, auto* problem) {
         for (const auto& item : ListItems(v)) {
           v1::Industry industry;
           if (!v1::Industry_Parse(Upper(item), &industry) ||
               industry == v1::INDUSTRY_UNSPECIFIED) {
             *problem = absl::StrCat("not an industry: ", item, " (names separated by |)");
             return;
           }
           Of(r).mutable_company()->add_industries(industry);
         }
       }},
      {{"country_code", "customer.company.country_code", true},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_company()->set_country_code(v); }},
      {{"address_line1", "customer.company.address.address_line1", true},
       [](auto& r, const auto& v, auto*) {
         Of(r).mutable_company()->mutable_address()->set_address_line1(v);
       }},
      {{"address_line2", "customer.company.address.address_line2", false},
       [](auto& r, const auto& v, auto*) {
         Of(r).mutable_company()->mutable_address()->set_address_line2(v);
       }},
      {{"city", "customer.company.address.city", true},
       [](auto& r, const auto& v, auto*) {
         Of(r).mutable_company()->mutable_address()->set_city(v);
       }},
      {{"state", "customer.company.address.state", true},
       [](auto& r, const auto& v, auto*) {
         Of(r).mutable_company()->mutable_address()->set_state(v);
       }},
      {{"zip_code", "customer.company.address.zip_code", true},
       [](auto& r, const auto& v, auto*) {
         Of(r).mutable_company()->mutable_address()->set_zip_code(v);
       }},
      {{"website", "customer.company.website_uri", false},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_company()->set_website_uri(v); }},
      {{"first_name", "customer.contact.first_name", true},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_contact()->set_first_name(v); }},
      {{"last_name", "customer.contact.last_name", true},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_contact()->set_last_name(v); }},
      {{"work_email", "customer.contact.work_email", true},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_contact()->set_work_email(v); }},
      {{"phone", "customer.contact.phone", true},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_contact()->set_phone(v); }},
      {{"job_title", "customer.contact.job_title", false},
       [](auto& r, const auto& v, auto*) { Of(r).mutable_contact()->set_job_title(v); }},
      {{"management_type", "customer.management_type", true},
       [](auto& r, const auto& v, auto* problem) {
         Of(r).set_management_type(ParseManagementTypeCell(v, problem));
       }},
      {{"services", "services", false},
       [](auto& r, const auto& v, auto* problem) {
         for (auto service : ParseServicesCell(v, problem)) r.add_services(service);
       }},
      {{"knox_manage_tenant_prefix", "knox_manage_tenant_prefix", false},
       [](auto& r, const auto& v, auto*) { r.set_knox_manage_tenant_prefix(v); }},
  };
  return *specs;
}

// A row's identity for duplicates: the company and the contact, as normalised.
std::string DuplicateKey(const v1::Customer& c) {
  return absl::StrCat(absl::AsciiStrToLower(c.company().display_name()), "\n",
                      c.contact().work_email());
}

}  // namespace

const std::vector<ImportColumn>& ImportColumns() {
  static const auto* columns = [] {
    auto* out = new std::vector<ImportColumn>;
    for (const auto& spec : Specs()) out->push_back(spec.column);
    return out;
  }();
  return *columns;
}

std::string ImportColumnOf(const std::string& field) { return ColumnOf(ImportColumns(), field); }

std::string ColumnOf(const std::vector<ImportColumn>& columns, const std::string& field) {
  std::string best;
  size_t best_length = 0;
  for (const auto& column : columns) {
    const std::string_view path = column.field;
    if (field.compare(0, path.size(), path) == 0 &&
        (field.size() == path.size() || field[path.size()] == '.' || field[path.size()] == '[') &&
        path.size() > best_length) {
      best = std::string(column.name);
      best_length = path.size();
    }
  }
  return best;
}

void AddRefusal(const ApiError& error, const std::vector<ImportColumn>& columns,
                std::vector<FieldViolation>& problems) {
  if (error.field_violations().empty()) {
    problems.push_back({"", error.message()});
    return;
  }
  for (const auto& v : error.field_violations()) {
    const std::string column = ColumnOf(columns, v.field);
    // A cell that could not be read is also missing to the request's checks: one problem.
    const bool known = std::any_of(problems.begin(), problems.end(),
                                   [&](const FieldViolation& p) { return p.field == column; });
    if (!known) problems.push_back({column, v.description});
  }
}

std::optional<std::string> RequestedTenantId(const v1::CreateCustomerRequest& request) {
  const auto& services = request.services();
  if (std::find(services.begin(), services.end(), assignment::v1::KNOX_MANAGE) == services.end()) {
    return std::nullopt;
  }
  return knox::TenantId(request.knox_manage_tenant_prefix(),
                        knox::EmailDomain(request.customer().contact().work_email()));
}

ImportHeader ParseImportHeader(const std::vector<std::string>& header) {
  return MatchTemplateHeader(ImportColumns(), header);
}

ImportHeader MatchTemplateHeader(const std::vector<ImportColumn>& columns,
                                 const std::vector<std::string>& header) {
  ImportHeader out;
  out.by_position.assign(header.size(), -1);
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string name = absl::AsciiStrToLower(header[i]);
    int found = -1;
    for (size_t c = 0; c < columns.size(); ++c) {
      if (columns[c].name == name) found = static_cast<int>(c);
    }
    if (found < 0) {
      out.problems.push_back({header[i], "not a column of the template"});
    } else if (seen.count(name)) {
      out.problems.push_back({header[i], "the column is there twice"});
    }
    seen[name] = i;
    out.by_position[i] = found;
  }
  for (const auto& column : columns) {
    if (column.required && !seen.count(std::string(column.name))) {
      out.problems.push_back({std::string(column.name), "a required column is missing"});
    }
  }
  return out;
}

ImportRow ParseImportRow(const ImportHeader& header, const CsvRecord& record, int number) {
  ImportRow row;
  row.row = number;
  row.line = record.line;
  if (record.fields.size() != header.by_position.size()) {
    row.problems.push_back({"", absl::StrCat(record.fields.size(), " fields where the header has ",
                                             header.by_position.size())});
  }
  const auto& specs = Specs();
  for (size_t i = 0; i < header.by_position.size() && i < record.fields.size(); ++i) {
    const ColumnSpec& spec = specs[static_cast<size_t>(header.by_position[i])];
    std::string problem;
    spec.set(row.request, std::string(absl::StripAsciiWhitespace(record.fields[i])), &problem);
    if (!problem.empty()) row.problems.push_back({std::string(spec.column.name), problem});
  }
  return row;
}

void RowChecker::Check(ImportRow& row) {
  Normalize(*row.request.mutable_customer());
  bool valid = row.problems.empty();
  try {
    ValidateNewCustomer(row.request.customer(), free_mail_);
  } catch (const ApiError& e) {
    AddRefusal(e, ImportColumns(), row.problems);
    valid = false;
  }
  try {
    ValidateRequestedServices(row.request);
  } catch (const ApiError& e) {
    AddRefusal(e, ImportColumns(), row.problems);
    valid = false;
  }
  if (!valid) return;  // duplicates and clashes are judged between valid rows only
  const auto [first, inserted] =
      first_row_of_.emplace(DuplicateKey(row.request.customer()), row.row);
  if (!inserted) {
    row.problems.push_back(
        {"work_email", absl::StrCat("the same company and contact as row ", first->second)});
    return;
  }
  const auto tenant = RequestedTenantId(row.request);
  if (!tenant) return;
  const auto [taken, free] = tenant_taken_by_.emplace(*tenant, row.row);
  if (!free) {
    row.problems.push_back({"knox_manage_tenant_prefix",
                            absl::StrCat("Knox Manage tenant id ", *tenant, " is row ",
                                         taken->second, "'s: give this row a prefix of its own")});
  }
}

}  // namespace msp::customer
