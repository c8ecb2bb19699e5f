#pragma once

// perfflowctl's task commands (each returns an ExitCode):
//   apply [--dry_run] <dir|file.yaml>...   validate, show what changes, apply
//   import-employees <file.csv>            batched upserts, progress, rejected rows
//   ingest <event_type> <subject> [key=value...]
//   tasks [assignee]                       an inbox (default: --principal)
//   health [day|week|month]                flow health as tables
//   heatmap                                department x event type response times
//   brief <session> [out.html]             generate, render and write (and open) a brief

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/cli/ctl_client.h"

namespace perfflow::cli {

struct CommandFlags {
  bool dry_run = false;
  int batch = 200;
  std::string source = "cli";
  std::string external_id;
  bool open = false;
  // erase-person: do not ask for the person's id again.
  bool yes = false;
};

int Apply(Client& client, const std::vector<std::string>& paths, const CommandFlags& flags);
int ImportEmployees(Client& client, const std::string& csv_path, const CommandFlags& flags);
// import-history <file.csv | file.jsonl>: past closed chains with their step times (ImportHistory),
// in batches of --batch (at most 500), with a progress bar and every rejected line listed.
int ImportHistory(Client& client, const std::string& path, const CommandFlags& flags);
int Ingest(Client& client, const std::vector<std::string>& args, const CommandFlags& flags);
int Tasks(Client& client, const std::vector<std::string>& args);
int Health(Client& client, const std::vector<std::string>& args);
int Heatmap(Client& client);
int Brief(Client& client, const std::vector<std::string>& args, const CommandFlags& flags);
// what-if <settings.yaml> [days]: SimulateSettings over the last `days` (30), today beside the what-if.
int WhatIf(Client& client, const std::vector<std::string>& args);
// export-person <person_id> [out.zip]: the person's data export (through the gateway's gRPC port).
int ExportPerson(Client& client, const std::vector<std::string>& args);
// erase-person <person_id>: pseudonymise the person everywhere (admins; asks for the id again unless --yes).
int ErasePerson(Client& client, const std::vector<std::string>& args, const CommandFlags& flags);

// One CSV record per line (RFC 4180 quoting, "" inside quotes); the line
// number where each record starts. InvalidArgument names the line of an
// unterminated quote.
struct CsvRecord {
  int line;
  std::vector<std::string> fields;
};
absl::StatusOr<std::vector<CsvRecord>> ParseCsv(const std::string& text);

}  // namespace perfflow::cli
