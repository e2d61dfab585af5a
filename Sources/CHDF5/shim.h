// HDF5's C API (Debian: libhdf5-dev). Its type and property-list constants are
// macros over C globals; the CHDF5Shim target re-exports them as functions.
#include <hdf5.h>
