// framefarm-dispatcher: see dispatcher/cli.hpp (commands, exit codes).
#include <iostream>
#include <string>
#include <vector>

#include "dispatcher/cli.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return ff::dispatcher::cli_main(args, std::cout, std::cerr);
}
