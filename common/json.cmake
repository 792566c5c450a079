target_sources(ff_common PRIVATE json.cpp json_fields.cpp)
target_link_libraries(ff_common PUBLIC nlohmann_json::nlohmann_json)
