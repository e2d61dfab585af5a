// XGBoost's C API (Debian: libxgboost-dev).
#include <xgboost/c_api.h>
