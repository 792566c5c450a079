#include <cstring>
#include <iostream>
#include <string>

#include "dispatcher/migrate.hpp"

int main(int argc, char** argv) {
  std::string db, dir = ff::dispatcher::default_schema_dir().string();
  if (argc < 2 || std::string(argv[1]) != "migrate") {
    std::cerr << "usage: framefarm-dispatcher migrate [--database URL] [--schema-dir DIR]\n";
    return 2;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--database")) db = argv[i + 1];
    else if (!std::strcmp(argv[i], "--schema-dir")) dir = argv[i + 1];
  }
  try {
    auto r = ff::dispatcher::migrate(db, dir);
    for (auto& f : r.applied) std::cout << "applied " << f << "\n";
    for (auto& f : r.skipped) std::cout << "already applied " << f << "\n";
  } catch (const std::exception& e) {
    std::cerr << "framefarm-dispatcher migrate: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
