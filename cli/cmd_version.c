/* lambda version */
#include <stdio.h>

#include "cmds.h"

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("lambda %s\n", LAMBDA_VERSION);
	return 0;
}
