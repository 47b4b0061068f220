/* placeholder: replaced by the server implementation */
int main(void) { return 1; }
