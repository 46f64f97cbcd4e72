#include <vulkan/vulkan.h>
// Function-like macros are not imported into Swift.
static const uint32_t VONNX_VK_API_VERSION_1_1 = VK_API_VERSION_1_1;
static const uint32_t VONNX_VK_API_VERSION_1_2 = VK_API_VERSION_1_2;
