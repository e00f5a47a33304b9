def f(n):
    """Doc."""
    global total
    for i in range(n):
        # a comment
        s = '''a
b'''
        if i:
            continue
    else:
        total += 1
    while n:
	n -= 1
    return n


class C:
    def m(self): return 1
    def k(self):
        return [x for x in
            range(3)]


total = 0
for j in range(3): f(j)
for j in range(5):
    f(j)
w = 0
while w < 3:
    w += 1
    if w == 2: continue
else:
    for k in range(2):
        total += k
print(total, w, C().k())
