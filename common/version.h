/* version.h: the one version string of sgagent and sgcluster (status, --version, the package). */
#ifndef SG_COMMON_VERSION_H
#define SG_COMMON_VERSION_H

#define SG_VERSION "0.1.0"

#endif
