def first():
    for i in range(2):
        print(i)
    return 1
def second():
    return 2
class K:
    def m(self):
        return 3
print(first(), second(), K().m())
