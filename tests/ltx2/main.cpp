#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "tests/ltx2/torch_doctest.hpp"
