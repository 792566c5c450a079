// The commands of `framefarm-dispatcher` (internal to cli*.cpp): each runs one decoded request,
// prints to out/err and returns an exit code (cli.hpp). They may throw: run_cli() maps
// ff::config::UsageError to exit 2 and database or other errors to exit 1.
#pragma once

#include <exception>
#include <iosfwd>
#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "dispatcher/cli.hpp"

namespace ff::dispatcher::commands {

// cli_jobs.cpp
int submit(const CliRequest& req, std::ostream& out, std::ostream& err);
int status(const CliRequest& req, std::ostream& out, std::ostream& err);
int list(const CliRequest& req, std::ostream& out, std::ostream& err);
int cancel(const CliRequest& req, std::ostream& out, std::ostream& err);
int retry(const CliRequest& req, std::ostream& out, std::ostream& err);

// cli_admin.cpp
int workers(const CliRequest& req, std::ostream& out, std::ostream& err);
int migrate(const CliRequest& req, std::ostream& out, std::ostream& err);
int keygen(const CliRequest& req, std::ostream& out, std::ostream& err);
int serve(const CliRequest& req, std::ostream& out, std::ostream& err);

// A connection to req.database_url with the dispatcher's statements prepared.
std::unique_ptr<pqxx::connection> connect(const CliRequest& req);

// First line of a PostgreSQL error without the "ERROR:  " prefix.
std::string pg_message(const std::exception& e);

}  // namespace ff::dispatcher::commands
